"""One translation table, complete in both languages."""

from __future__ import annotations

import re
import string
from pathlib import Path

from mobile.app.i18n import LANGUAGES, STRINGS, Translator, detect_language
from shared.errors import CATALOGUE
from shared.model import Role, Status
from shared.workflow import TRANSITIONS

APP = Path(__file__).resolve().parents[2] / "mobile" / "app"


def test_every_key_has_chinese_and_english_text() -> None:
    for key, (zh, en) in STRINGS.items():
        assert zh.strip() and en.strip(), key
        assert (
            zh != en
            or key.startswith("settings.language.")
            or not re.search(r"[A-Za-z]{3}", en)
            or key in {"home.hello", "case.timeline_entry", "sync.progress"}
        ), f"{key} is not translated"


def test_both_languages_use_the_same_placeholders() -> None:
    for key, (zh, en) in STRINGS.items():
        names = [{f for _, f, _, _ in string.Formatter().parse(text) if f} for text in (zh, en)]
        assert names[0] == names[1], key


def test_every_status_action_and_role_has_words() -> None:
    for status in Status:
        assert f"status.{status.value}" in STRINGS
    for action in TRANSITIONS:
        assert f"action.{action}" in STRINGS
    for role in Role:
        assert f"role.{role.value}" in STRINGS


def test_every_key_the_app_uses_exists_and_every_error_code_reads_as_words() -> None:
    used = set()
    for path in APP.rglob("*.py"):
        used |= set(re.findall(r"""\bt\(\s*["']([a-z_]+\.[a-z_.]+)["']""", path.read_text("utf-8")))
    assert used, "the scan found no keys"
    assert not used - set(STRINGS), sorted(used - set(STRINGS))
    for code in CATALOGUE:
        for lang in LANGUAGES:
            assert Translator(lang).error(code)
    assert "({code})" not in Translator("en").error("no.such_code")


def test_the_device_language_decides_until_the_worker_picks_one() -> None:
    assert detect_language(["zh-Hans-CN", "en-US"]) == "zh-CN"
    assert detect_language(["en_GB", "zh-CN"]) == "en"
    assert detect_language(["fr-FR", "de"]) == "zh-CN"
    assert detect_language([]) == "zh-CN"
    assert Translator("en").t("report.accuracy", meters=8) == "Accuracy about 8 m"
    assert Translator("zh-CN").status("closed") == "已结案"
