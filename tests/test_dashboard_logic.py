"""The dashboard's non-visual logic: which scenarios it offers and how it checks a typed file.

(The page itself is driven in a real browser by tests/browser/test_dashboard.py.)
"""

from __future__ import annotations

import os

import pytest

pytest.importorskip("solara")

from narcoflow.app.dashboard import open_scenario, scenario_choices  # noqa: E402
from narcoflow.errors import ScenarioError  # noqa: E402
from narcoflow.scenario import load  # noqa: E402

VARIANT = ("base: north-korea-2011\nname: nk-variant\nconsumption:\n"
           "  quit_rate_per_week: {value: 0.01, range: [0.001, 0.02], source: test}\n")


def test_offers_builtins_and_calibrated_files_next_to_the_database(tmp_path):
    (tmp_path / "runs-abc123.scenario.yaml").write_text(VARIANT)
    (tmp_path / "notes.yaml").write_text("not: a scenario\n")  # other YAML files are not offered
    choices = scenario_choices(tmp_path / "runs.duckdb")
    assert choices["north-korea-2011"] == "north-korea-2011"
    assert choices["runs-abc123.scenario.yaml"] == str((tmp_path / "runs-abc123.scenario.yaml").resolve())
    assert "notes.yaml" not in choices
    assert load(choices["runs-abc123.scenario.yaml"]).consumption.quit_rate_per_week.value == 0.01


def test_opened_files_are_added(tmp_path):
    f = tmp_path / "variant.yaml"
    f.write_text(VARIANT)
    path = open_scenario(f" {f} ", tmp_path)
    assert scenario_choices(tmp_path / "x.duckdb", extra=(path,))["variant.yaml"] == path


def test_a_bad_file_names_the_field_and_the_range(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text(VARIANT.replace("0.01", "1.5"))
    with pytest.raises(ScenarioError) as err:
        open_scenario(str(f), tmp_path)
    assert "bad.yaml" in str(err.value) and "quit_rate_per_week" in str(err.value)
    with pytest.raises(ScenarioError, match="opens the built-in scenarios and scenario files"):
        open_scenario(str(tmp_path / "missing.yaml"), tmp_path)
    with pytest.raises(ValueError, match="Type the path"):
        open_scenario("  ", tmp_path)


def test_only_the_scenario_folder_is_opened_and_nothing_else_is_echoed(tmp_path):
    """Issue 16: the path box opened any file the server could read and echoed its lines."""
    folder = tmp_path / "scenarios"
    folder.mkdir()
    (folder / "ok.yaml").write_text(VARIANT)
    secret = tmp_path / "secret.yaml"
    secret.write_text("password: hunter2-SECRET\n")
    (folder / "creds.yaml").write_text("api_key: SECRET-KEY\nnested: {token: SECRET}\n")
    (folder / "shadow.yaml").write_text("root:$6$SECRETHASH:19000:0:99999:7:::\n")
    unreadable = folder / "locked.yaml"
    unreadable.write_text(VARIANT)
    unreadable.chmod(0)
    (folder / "escape.yaml").write_text(f"base: {secret}\nname: x\n")
    assert open_scenario("ok.yaml", folder) == str((folder / "ok.yaml").resolve())
    answers = {}
    for probe in ["/etc/shadow", "/etc/passwd", "/proc/self/status", str(secret), "creds.yaml",
                  "shadow.yaml", "missing.yaml", "locked.yaml", "../secret.yaml", "/dev/zero",
                  "/nonexistent/x.yaml"]:
        if probe == "locked.yaml" and os.geteuid() == 0:
            continue  # root reads a file of mode 0 anyway
        with pytest.raises(ScenarioError) as err:
            open_scenario(probe, folder)
        msg = str(err.value)
        assert "SECRET" not in msg and "hunter2" not in msg and "root:" not in msg, msg
        answers[probe] = msg.replace(probe, "<path>")
    assert len(set(answers.values())) == 1, answers  # missing, unreadable, not a scenario: alike
    with pytest.raises(ScenarioError) as err:  # a base: outside the folder is not followed
        open_scenario("escape.yaml", folder)
    assert "SECRET" not in str(err.value) and "hunter2" not in str(err.value)


def test_non_loopback_host_needs_a_token(monkeypatch):
    from narcoflow.app.server import check_token, is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    assert check_token("abc", "abc") and not check_token("abd", "abc") and not check_token(None, "abc")


def test_token_middleware_lets_only_the_token_through():
    import asyncio

    from narcoflow.app.server import TokenMiddleware

    async def inner(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"page"})

    def call(scope):
        sent = []

        async def send(message):
            sent.append(message)

        async def receive():
            return {"type": "http.request"}

        asyncio.run(TokenMiddleware(inner, "s3cret")(scope, receive, send))
        return sent

    http = {"type": "http", "headers": [], "query_string": b""}
    assert call(http)[0]["status"] == 401
    assert call({**http, "query_string": b"token=wrong"})[0]["status"] == 401
    ok = call({**http, "query_string": b"token=s3cret"})
    assert ok[0]["status"] == 200 and any(k == b"set-cookie" for k, _ in ok[0]["headers"])
    assert call({**http, "headers": [(b"cookie", b"narcoflow_token=s3cret")]})[0]["status"] == 200
    assert call({**http, "headers": [(b"authorization", b"Bearer s3cret")]})[0]["status"] == 200
    assert call({"type": "websocket", "headers": [], "query_string": b""}) == [
        {"type": "websocket.close", "code": 1008}]
