"""Chart fonts that cannot fail silently (issue 14, item 1).

The charts bake their texts into the SVG as glyph outlines, so a glyph drawn from
the wrong font (a box) can never be repaired by a browser. These tests run the chart
code in a separate Python process with its own ``MPLCONFIGDIR`` in two situations:

* **bad cache**: matplotlib's font cache knows only a CJK-only font (Droid Sans
  Fallback: no Latin letters, no digits; Debian ``fonts-droid-fallback``) and no
  Noto CJK, as on a machine where the cache was built before Noto was installed;
* **fresh cache**: an empty ``MPLCONFIGDIR`` (matplotlib builds its cache anew).

In both, every character of every chart text of the Chinese and the English bulletin
must be drawn from a font that has it (the glyph ids in the SVG are
``<font>-<glyph index>``; index 0 is the "missing glyph" box), and a headless
Chromium screenshot of the charts must match the one of a known-good render.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.parse
from pathlib import Path

import numpy as np
import pytest

from survey.errors import SurveyWarning
from survey.publish.report.html import CHROMIUM_FLAGS, find_chromium

DROID = Path("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf")

#: Make the cache of MPLCONFIGDIR know only the CJK-only font (the situation of issue 14).
BAD_CACHE = r"""
import json, sys
from pathlib import Path
import matplotlib
from matplotlib import font_manager as fm
droid, target = sys.argv[1], Path(sys.argv[2])
cjk = ("CJK", "Source Han", "WenQuanYi", "Droid")
fm.fontManager.ttflist = [e for e in fm.fontManager.ttflist if not any(k in e.name for k in cjk)]
fm.fontManager.addfont(droid)
fm.json_dump(fm.fontManager, target / f"fontlist-v{fm.FontManager.__version__}.json")
"""

#: Draw the charts of the example bulletin in both languages; report fonts and warnings.
RENDER = r"""
import json, sys, warnings
from pathlib import Path
from matplotlib import font_manager as fm
out = Path(sys.argv[1])
before = sorted({e.name for e in fm.fontManager.ttflist if "CJK" in e.name or "Droid" in e.name})
from survey.publish.report import charts, example_content
families = charts.font_families()
paths = {}
for f in families:
    p = fm.findfont(fm.FontProperties(family=f), fallback_to_default=False)
    paths[f] = [str(p), int(getattr(p, "face_index", 0))]
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    for lang in ("zh", "en"):
        c = example_content(lang)
        for key, draw in (("series", charts.series_chart), ("growth", charts.growth_chart),
                          ("parts", charts.parts_chart)):
            (out / f"{key}-{lang}.svg").write_text(draw(getattr(c, key), language=lang), encoding="utf-8")
(out / "fonts.json").write_text(json.dumps({"cache_cjk": before, "families": families, "paths": paths,
    "warnings": [str(w.message) for w in caught]}), encoding="utf-8")
"""


def _python(code: str, *args: str, config: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MPL")}
    env["MPLCONFIGDIR"] = str(config)
    done = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]


def _render(situation: str, tmp: Path) -> Path:
    """The charts drawn in a fresh Python with its own MPLCONFIGDIR: empty ("fresh"), or a
    cache that knows only the CJK-only font ("bad": written by :data:`BAD_CACHE` from the
    fresh situation's cache, so matplotlib builds a cache once, not twice)."""
    config, out = tmp / f"mpl-{situation}", tmp / f"svg-{situation}"
    config.mkdir()
    out.mkdir()
    if situation == "bad":
        _python(BAD_CACHE, str(DROID), str(config), config=tmp / "mpl-fresh")
    _python(RENDER, str(out), config=config)
    return out


def _glyph_ids(text: str, faces: list) -> tuple[set[str], str]:
    """Glyph ids (``<postscript name>-<glyph index, hex>``) matplotlib's per-glyph fallback
    draws ``text`` with (``faces``: the fonts' ``FT2Font``, in the order of the families),
    and the characters no font has."""
    ids, missing = set(), ""
    for ch in text:
        if ch.isspace():
            continue
        for face in faces:
            index = face.get_char_index(ord(ch))
            if index:
                ids.add(urllib.parse.quote(f"{face.postscript_name}-{index:x}"))
                break
        else:
            missing += ch
    return ids, missing


@pytest.fixture(scope="module")
def renders(tmp_path_factory) -> dict[str, Path]:
    """The charts of both situations (``fresh`` first: ``bad`` starts from its cache)."""
    if not DROID.is_file():
        pytest.skip(f"{DROID} is not installed (Debian: apt-get install fonts-droid-fallback)")
    tmp = tmp_path_factory.mktemp("fonts")
    return {situation: _render(situation, tmp) for situation in ("fresh", "bad")}


@pytest.fixture(params=["bad", "fresh"])
def rendered(request, renders):
    return request.param, renders[request.param]


def test_every_chart_character_has_a_real_outline(rendered):
    """Bad cache (Droid only) and fresh cache: Latin family first, the best CJK family found,
    and every glyph of every chart text (titles, ticks, legends, axis labels) is drawn."""
    situation, out = rendered
    info = json.loads((out / "fonts.json").read_text(encoding="utf-8"))
    if situation == "bad":
        assert info["cache_cjk"] == ["Droid Sans Fallback"]  # the situation of issue 14 is real
    assert info["families"][0] == "DejaVu Sans"  # never a CJK-only font as the sole family
    assert info["families"][1] == "Noto Sans CJK SC"  # found on the disk although the cache lacked it
    assert info["warnings"] == []  # no "Glyph missing" and no font warning
    from matplotlib.ft2font import FT2Font

    # the fonts opened once (the CJK collection is large), not once per text
    faces = [FT2Font(path, face_index=index) for path, index in (info["paths"][f] for f in info["families"])]
    checked = 0
    for svg_file in sorted(out.glob("*.svg")):
        svg = svg_file.read_text(encoding="utf-8")
        drawn = {re.sub(r"^[a-z]+-", "", i) for i in re.findall(r'<path id="([^"]+)"', svg)}
        assert not any(i.endswith("-0") for i in drawn), svg_file.name  # glyph 0: the box
        assert "<text" not in svg
        texts = [t.strip() for t in re.findall(r"<!-- (.*?) -->", svg, re.DOTALL)]
        assert len(texts) > 10
        for text in texts:
            want, missing = _glyph_ids(text, faces)
            assert missing == "", (svg_file.name, text)
            assert want <= drawn, (svg_file.name, text, sorted(want - drawn))
            checked += len(text)
        lang = svg_file.stem.split("-")[1]
        if lang == "zh":  # Chinese glyphs come from the CJK font, digits from DejaVu Sans
            assert any(i.startswith("NotoSansCJKsc") for i in drawn)
        assert any(i.startswith("DejaVuSans-") for i in drawn)
    assert checked > 500


def _screenshots(chromium: str, columns: dict[str, list[Path]], png: Path,
                 tmp: Path) -> dict[str, np.ndarray]:
    """One Chromium screenshot of every column of charts side by side (900 px each, the
    charts of a column one below the other): a column's pixels are what a 900 x 1800 window
    showing that column alone shows (measured: at most 0.00002 of the pixels differ, the
    test's bound is 0.001; a broken render differs in 0.092), in one browser launch."""
    import matplotlib.image

    page = png.with_suffix(".html")
    page.write_text("<!DOCTYPE html><html><body style='margin:0;background:#fff;display:flex;"
                    "align-items:flex-start'>" + "".join(
        "<div style='width:900px;flex:none'>" + "".join(
            f"<div style='width:900px'>{s.read_text(encoding='utf-8')}</div>" for s in svgs)
        + "</div>" for svgs in columns.values())
        + "<style>svg{width:900px;height:auto;display:block}</style></body></html>", encoding="utf-8")
    subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp / ('p-' + png.stem)}",
                    f"--window-size={900 * len(columns)},1800", f"--screenshot={png}",
                    page.as_uri()], capture_output=True, timeout=120, check=False)
    assert png.is_file()
    pixels = matplotlib.image.imread(png)[..., :3]
    return {name: pixels[:, 900 * i:900 * (i + 1)] for i, name in enumerate(columns)}


NAMES = ["series-zh", "growth-zh", "parts-en"]  # the charts compared on screen


@pytest.fixture(scope="module")
def references(renders, tmp_path_factory):
    """Screenshots of the known-good render (Noto CJK + DejaVu, drawn in this process with a
    cache that knows both), of a render with the CJK-only font as the sole family (the
    bug of issue 14) and of both situations' renders, in one browser launch; with the
    warnings of the broken render."""
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("chromium is not on PATH (Debian: apt-get install chromium)")
    import warnings

    import matplotlib
    from matplotlib import font_manager as fm

    from survey.publish.report import charts, example_content

    tmp = tmp_path_factory.mktemp("fonts-reference")
    good_dir, bad_dir = tmp / "good", tmp / "broken"
    good_dir.mkdir()
    bad_dir.mkdir()
    contents = {"zh": example_content("zh"), "en": example_content("en")}
    draw = {"series": charts.series_chart, "growth": charts.growth_chart, "parts": charts.parts_chart}
    caught = {}
    for name in NAMES:
        key, lang = name.split("-")
        frame = getattr(contents[lang], key)
        (good_dir / f"{name}.svg").write_text(draw[key](frame, language=lang), encoding="utf-8")
        fm.fontManager.addfont(str(DROID))
        with pytest.MonkeyPatch.context() as mp, matplotlib.rc_context(), \
                warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            mp.setattr(charts, "font_families", lambda: ["Droid Sans Fallback"])  # the old bug
            (bad_dir / f"{name}.svg").write_text(draw[key](frame, language=lang), encoding="utf-8")
        caught[name] = seen
    folders = {"good": good_dir, "broken": bad_dir, **renders}
    screens = _screenshots(chromium, {k: [f / f"{n}.svg" for n in NAMES] for k, f in folders.items()},
                           tmp / "screens.png", tmp)
    return screens, caught


def test_chart_screenshots_match_a_known_good_render(rendered, references):
    """The charts of each situation look like the known-good render (Noto CJK + DejaVu, drawn
    here with a cache that knows both), and a render with the CJK-only font as the sole family
    (the bug of issue 14) does not: the comparison can see the failure. (The reference
    renders are the same for both situations: made once, :func:`references`, whose one
    screenshot holds the references and both situations.)"""
    screens, caught = references
    good, broken = screens["good"], screens["broken"]
    situation, _ = rendered
    for name, seen in caught.items():  # one warning naming the fix, not one per glyph
        assert len(seen) == 1, (name, [str(w.message) for w in seen])
        assert issubclass(seen[0].category, SurveyWarning)
        assert re.search("apt-get install fonts-noto-cjk", str(seen[0].message)), name
    seen = screens[situation]
    same, bad = _differing(seen, good), _differing(broken, good)
    print(f"{situation}: differing pixels {same:.5f} (broken render: {bad:.5f})")
    assert same < 0.001, situation  # the same picture
    assert bad > 0.005  # boxes instead of digits are seen


def _differing(a: np.ndarray, b: np.ndarray) -> float:
    """The share of pixels where a colour channel differs by more than 0.1 (the channels'
    maximum taken pairwise: 4x faster than ``max(axis=-1)`` over the three)."""
    d = np.abs(a - b)
    return float(np.mean(np.maximum(np.maximum(d[..., 0], d[..., 1]), d[..., 2]) > 0.1))
