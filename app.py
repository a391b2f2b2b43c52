"""The shop assistant's web app.

    python app.py                       # built-in demo catalog, http://127.0.0.1:7860
    python app.py --port 8080 --data-dir /srv/shop --chroma-url http://localhost:8000

On first run it generates and indexes the demo catalog (progress shown); later runs reuse what is persisted.
This file only wires the UI to functions that live in catalog/ and assistant/.
"""
from __future__ import annotations

import argparse
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # otherwise Gradio calls home
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")  # same for Chroma

import gradio as gr  # noqa: E402

from assistant.train import ensure_fast_predictor  # noqa: E402
from catalog.build import ensure_demo_catalog  # noqa: E402
from catalog.config import CatalogConfig  # noqa: E402
from catalog.index import ProductIndex  # noqa: E402
from catalog.search_view import CATEGORY_ANY, category_choices, search_table  # noqa: E402


def build_ui(index: ProductIndex, predictor: str = "") -> gr.Blocks:
    with gr.Blocks(title="Shop assistant") as demo:
        gr.Markdown("## Shop assistant: catalog search")
        gr.Markdown(f"Purchase predictor: {predictor}", elem_id="predictor")
        with gr.Row():
            query = gr.Textbox(label="What are you looking for?", placeholder="waterproof hiking jacket", scale=4)
            max_price = gr.Number(label="Max price", value=None, minimum=0)
            category = gr.Dropdown(label="Category", choices=[CATEGORY_ANY, *category_choices(index)],
                                   value=CATEGORY_ANY)
        button = gr.Button("Search", variant="primary")
        results = gr.Dataframe(headers=["score", "title", "brand", "price", "rating", "category", "in stock"],
                               interactive=False, wrap=True)
        gr.Examples([["waterproof hiking jacket"], ["wireless headphones"], ["non-stick frying pan"]], [query])
        inputs = [query, max_price, category]
        button.click(lambda *a: search_table(index, *a), inputs, results, api_name="search")
        query.submit(lambda *a: search_table(index, *a), inputs, results, api_name=False)
    return demo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default=os.environ.get("SHOP_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("SHOP_PORT", "7860")))
    parser.add_argument("--data-dir", help="data directory (default: $SHOP_DATA_DIR or ./data)")
    parser.add_argument("--chroma-url", help="Chroma server URL (default: embedded, in the data directory)")
    parser.add_argument("--embed-model", help="sentence-transformers model id or path")
    args = parser.parse_args()
    config = CatalogConfig()
    config.data_dir = type(config.data_dir)(args.data_dir) if args.data_dir else config.data_dir
    config.chroma_url = args.chroma_url or config.chroma_url
    config.embed_model = args.embed_model or config.embed_model
    index = ProductIndex(config)
    report = ensure_demo_catalog(config, index=index)
    print(report.summary() if report else f"using the existing index: {index.count()} products")
    predictor = ensure_fast_predictor(str(config.data_dir))
    print(f"purchase predictor: {predictor}")
    build_ui(index, predictor).launch(server_name=args.host, server_port=args.port)


if __name__ == "__main__":
    main()
