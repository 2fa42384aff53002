"""What someone typed is shown as text: reordering controls made visible, marks kept."""

from __future__ import annotations

from markupsafe import Markup

from services.edge.http.console.text import shown


def test_an_override_that_would_turn_the_text_around_is_shown_as_its_code() -> None:
    assert shown("invoice\u202efdp.exe") == "invoice[U+202E]fdp.exe"
    assert shown("a\u2066b\u2069") == "a[U+2066]b[U+2069]"


def test_the_marks_a_right_to_left_language_needs_are_kept() -> None:
    assert shown("שלום\u200fabc") == "שלום\u200fabc"


def test_the_console_s_own_markup_and_other_values_pass_unchanged() -> None:
    ours = Markup("<b>\u202e</b>")
    assert shown(ours) is ours
    assert shown(3) == 3 and shown(None) is None
