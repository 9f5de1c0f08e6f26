from __future__ import annotations

import curbside


def test_all_names_exist_and_are_sorted() -> None:
    for name in curbside.__all__:
        assert hasattr(curbside, name), name
    assert curbside.__all__ == sorted(curbside.__all__)


def test_no_unlisted_public_names() -> None:
    public = {n for n in vars(curbside) if not n.startswith("_")} - {"annotations"}
    modules = {n for n in public if type(getattr(curbside, n)).__name__ == "module"}
    assert public - modules == set(curbside.__all__) - {"__version__"}
