"""Compiled with mypyc by hand, for check_reference.py's COMPILED_SAMPLES_DIR (real compiled objects)."""


def gen():
    yield 1
    yield 2


async def coro():
    return 1
