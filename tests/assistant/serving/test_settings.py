"""Settings: one table, resolved once (flag, else environment, else default), validated with a clear message; every
setting visible in `python app.py --help`."""
from __future__ import annotations

import dataclasses

import pytest

from assistant.serving.settings import Settings
from catalog.config import CATALOG_ENV


def test_flags_override_the_environment_which_overrides_defaults():
    env = {"SHOP_PORT": "9123", "SHOP_LLM_BACKEND": "template", "SHOP_FRAME_ORIGINS": "https://a.example.com, https://*.b.example.com",
           "SHOP_API_KEY": "from-env", "SHOP_DATA_DIR": "/tmp/shop-data", "SHOP_HISTORY_TURNS": "4"}
    s = Settings.resolve({}, env)
    assert (s.port, s.llm_backend, s.api_key, s.history_turns) == (9123, "template", "from-env", 4)
    assert s.frame_origins == ["https://a.example.com", "https://*.b.example.com"]
    assert str(s.catalog.data_dir) == "/tmp/shop-data"
    flags = Settings.parser().parse_args(["--port", "8080", "--frame-origin", "https://x.example", "--api-key", "k"])
    s = Settings.resolve(vars(flags), env)
    assert (s.port, s.frame_origins, s.api_key) == (8080, ["https://x.example"], "k")
    assert Settings.resolve({}, {"SHOP_API_KEY": ""}).api_key is None  # empty means unset
    defaults = Settings.resolve({}, {})
    assert (defaults.port, defaults.host, defaults.backend_kind, defaults.history_turns) == (7860, "127.0.0.1", "local", 6)
    assert Settings.resolve({}, {"SHOP_LLM_URL": "http://x/v1"}).backend_kind == "openai"


@pytest.mark.parametrize("env, message", [
    ({"SHOP_LLM_BACKEND": "gpt"}, "SHOP_LLM_BACKEND must be one of"),
    ({"SHOP_LLM_BACKEND": "openai"}, "needs --llm-url"),
    ({"SHOP_HISTORY_TURNS": "50"}, "between 0 and 20"),  # not silently capped any more
    ({"SHOP_PORT": "eighty"}, "SHOP_PORT must be a whole number"),
    ({"SHOP_PORT": "70000"}, "between 1 and 65535"),
    ({"SHOP_CATALOG_MAP": "id"}, "FIELD=COLUMN"),
    ({"SHOP_CATALOG_MAP": "id=sku"}, "give --catalog FILE too"),  # a map with nothing to map
])
def test_a_bad_setting_is_a_clear_error_at_start(env, message):
    with pytest.raises(ValueError, match=message):
        Settings.resolve({}, env)


def test_a_bad_flag_exits_with_the_message(capsys):
    with pytest.raises(SystemExit) as exc:
        Settings.parse(["--history-turns", "99"], environ={})
    assert exc.value.code == 2 and "between 0 and 20" in capsys.readouterr().err


def test_help_lists_every_setting_with_its_variable():
    text = Settings.parser().format_help()
    for f in dataclasses.fields(Settings):
        assert f.metadata["env"] in text, f.name
    for var, _ in CATALOG_ENV.values():  # the catalog's variables are defined once, in catalog/config.py
        assert var in text
