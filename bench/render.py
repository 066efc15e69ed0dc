"""How long rendering takes: markdown → HTML for a 3,000-word issue, and the issue email.

Prints milliseconds per render and each figure's ratio to a baseline measured in the same run:
- markdown: Kith's full pipeline (CommonMark + tables/footnotes/anchors, teaser, nh3
  sanitizing, reading time) beside bare markdown-it-py CommonMark on the same text;
- email: filling the issue email, compiled from MJML once at start-up, beside compiling the
  same MJML with MRML (what rendering per issue would cost if nothing were cached).
Run: .venv/bin/python bench/render.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from markdown_it import MarkdownIt  # noqa: E402
from mjml import mjml2html  # noqa: E402

from app.issues.rendering import render_body  # noqa: E402
from app.sending.emails import EmailTemplates  # noqa: E402

SECTION = """## Section {n}: what the kitchens saw

Bakers in {n} kitchens mixed the same dough and wrote down every step, which is why this
section can say with some confidence that *temperature* mattered more than **time**, and that
the flour's protein content mattered least of all[^n{n}]. Most of them baked before work.

- Mix at 8:00, rest for an hour, then fold four times over two hours.
- Shape loosely, proof in the fridge overnight, and bake straight from cold.

| Kitchen | Temperature | Rise |
|--------:|------------:|-----:|
| A{n}    | 24 °C       | 80 % |
| B{n}    | 21 °C       | 55 % |

> Write it all down, even the loaves you would rather forget. — a member

```python
def rise(start_ml: float, end_ml: float) -> float:
    return (end_ml - start_ml) / start_ml
```

[^n{n}]: Protein content ranged from 11.2 % to 13.5 % across the flours used in section {n}.
"""


def issue_markdown(words: int = 3000) -> str:
    parts, n = ["Opening paragraph for the readers.\n\n<!-- more -->\n"], 0
    while render_body("\n".join(parts)).word_count < words:
        n += 1
        parts.append(SECTION.format(n=n))
    return "\n".join(parts)


def per_call_ms(function, *, repeat: int) -> float:
    """Median over 5 rounds of the mean time per call, in milliseconds."""
    function()  # warm up caches and lazy initialisation
    rounds = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(repeat):
            function()
        rounds.append((time.perf_counter() - start) / repeat * 1000)
    return statistics.median(rounds)


def main() -> None:
    markdown = issue_markdown()
    words = render_body(markdown).word_count
    bare = MarkdownIt("commonmark")
    kith_md = per_call_ms(lambda: render_body(markdown), repeat=20)
    bare_md = per_call_ms(lambda: bare.render(markdown), repeat=20)

    templates = EmailTemplates.load(ROOT / "emails")
    body_html = render_body(markdown).html
    source = (ROOT / "emails" / "issue.mjml").read_text()
    context = dict(publication="The Levain Letter", title="Issue", subtitle="Sub", preheader="Pre",
                   body_html=body_html, body_text=markdown, web_url="https://x/issues/i",
                   unsubscribe_url="https://x/unsubscribe/t")  # fmt: skip
    fill = per_call_ms(lambda: templates.render("issue", **context), repeat=200)
    compile_ms = per_call_ms(lambda: mjml2html(source), repeat=200)
    html_kb = len(templates.render("issue", **context).html.encode()) / 1024

    print(
        f"markdown → HTML, {words}-word issue: {kith_md:.2f} ms per render "
        f"(bare markdown-it-py CommonMark: {bare_md:.2f} ms; ratio {kith_md / bare_md:.2f}×)"
    )
    print(
        f"issue email ({html_kb:.0f} KB HTML) from precompiled MJML: {fill:.3f} ms per render "
        f"(compiling the MJML each time: {compile_ms:.3f} ms; ratio {fill / compile_ms:.2f}×)"
    )


if __name__ == "__main__":
    main()
