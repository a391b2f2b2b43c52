"""Serving: what a shopper, an agent or a client program talks to. The loaded shop (shop.py), the REST API (api.py),
the Gradio views (ui.py, cards.py), settings, user tokens, input limits and the chat log.

May import everything below it: assistant.pipeline, ranking, events, dialogue, reply, recsys (never its training
code) and catalog. Nothing imports serving except the entry point (app.py), tests and benchmarks.
"""
