# introspec-testsuites: the standard library's "is it a function?" probes on a generator, a
# coroutine and an async generator, before and after async_introspection.install(), in one
# process. Each call is a place in Lib that branches on hasattr/getattr(x, "__code__") (or
# on what inspect says of x), as `introspec usage` finds them. Prints one JSON list:
# {"call", "bare", "installed"}, each value normalised (no addresses, no paths).
#
# argv: REFERENCE_DIR
import sys

sys.path.insert(0, sys.argv[1])

import asyncio.format_helpers
import contextlib
import dis
import inspect
import io
import json
import re
import unittest.mock


def gen():
    yield 1


async def cor():
    pass


async def agen():
    yield 1


def norm(value):
    text = repr(value)
    text = re.sub(r"0x[0-9a-fA-F]+", "0x…", text)
    return text.replace(__file__, "probes.py")


def call(f):
    try:
        return norm(f())
    except Exception as e:
        return "raises " + type(e).__name__


def printed(f):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        f()
    text = out.getvalue().replace(__file__, "probes.py")
    return "%d lines, character sum %d" % (text.count("\n"), sum(map(ord, text)))


def probes():
    objs = [("generator", gen), ("coroutine", cor), ("async generator", agen)]
    rows = []
    for kind, make in objs:
        def each(label, f):
            o = make()
            try:
                rows.append((label % kind, f(o)))
            finally:
                if kind == "coroutine":
                    o.close()

        each('hasattr(%s, "__code__")', lambda o: call(lambda: hasattr(o, "__code__")))
        each("dis.dis(%s): its output", lambda o: call(lambda: printed(lambda: dis.dis(o))))
        each("dis.code_info(%s)", lambda o: call(lambda: dis.code_info(o).count("\n")))
        each("inspect.isfunction(%s)", lambda o: call(lambda: inspect.isfunction(o)))
        each("inspect.signature(%s)", lambda o: call(lambda: inspect.signature(o)))
        each("inspect.getfile(%s)", lambda o: call(lambda: inspect.getfile(o)))
        each("unittest.mock._is_async_func(%s)", lambda o: call(lambda: unittest.mock._is_async_func(o)))
        each("unittest.mock._is_async_obj(%s)", lambda o: call(lambda: unittest.mock._is_async_obj(o)))
        each(
            "asyncio.format_helpers._get_function_source(%s)",
            lambda o: call(lambda: asyncio.format_helpers._get_function_source(o)),
        )
    return rows


bare = probes()
import async_introspection

report = async_introspection.install()
if not report["complete"]:
    sys.exit("install() incomplete: %r" % (report["failed"],))
installed = probes()
json.dump(
    [{"call": c, "bare": b, "installed": i} for (c, b), (_, i) in zip(bare, installed)],
    sys.stdout,
)
