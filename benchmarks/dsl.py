"""Cost of the query DSL per query: parse an expression, build the request, compile it.

For each expression: ``parse`` (text -> IR), then the whole builder path
(``Search(...).where(text).similar_to(vector=...).as_user(...).to_request()``)
and the Elasticsearch / OpenSearch bodies and the embedded store's SQL for it.
Prints microseconds per query (median of repeats).

    python benchmarks/dsl.py [--repeat 2000]
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

EXPRESSIONS = [
    "tags=kitten",
    "media_type:image AND tags=kitten AND uploaded_at>7d AND NOT folder:archive/*",
    "(tags:beach OR tags:sea) AND width>=1024",
    'title:"red cat" AND (tags:cat OR tags:dog OR tags:bird OR folder:pets/*) AND height<=4000 '
    "AND uploaded_at:[2024-01-01 TO 2024-12-31] AND NOT tags:private",
]


def per_call_us(fn, repeat: int) -> float:
    for _ in range(50):
        fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1e6)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=2000)
    args = ap.parse_args()

    from es_visual.backends.cluster.compile_es import to_body as es_body
    from es_visual.backends.cluster.compile_opensearch import to_body as os_body
    from es_visual.backends.embedded.sql import compile_filter
    from es_visual.query.parser import parse
    from es_visual.query.search import Search

    vector = tuple(float(x) for x in np.random.default_rng(0).normal(size=512))
    print(f"# Python {platform.python_version()}, median of {args.repeat} calls, 512-d vector")
    print("| expression | parse us | builder->request us | ES body us | OpenSearch body us "
          "| embedded SQL us | total us |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for text in EXPRESSIONS:
        parse(text)  # fails loudly if the expression is not valid

        def request(text=text):
            return (
                Search("media")
                .where(text)
                .similar_to(vector=vector)
                .as_user("alice", groups=["design"])
                .limit(30)
                .to_request()
            )

        req = request()
        p = per_call_us(lambda text=text: parse(text), args.repeat)
        b = per_call_us(request, args.repeat)
        e = per_call_us(lambda req=req: es_body(req), args.repeat)
        o = per_call_us(lambda req=req: os_body(req), args.repeat)
        s = per_call_us(lambda req=req: compile_filter(req.scoped_filter), args.repeat)
        short = text if len(text) < 60 else text[:57] + "..."
        print(f"| `{short}` | {p:.0f} | {b:.0f} | {e:.0f} | {o:.0f} | {s:.0f} | {b + e:.0f} |")


if __name__ == "__main__":
    main()
