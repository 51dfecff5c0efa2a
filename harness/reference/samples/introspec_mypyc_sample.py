"""Compiled by smoke.sh with mypyc (when the interpreter has it) to check compiled objects."""


def gen():
    yield 1
    yield 2


async def coro():
    return 1
