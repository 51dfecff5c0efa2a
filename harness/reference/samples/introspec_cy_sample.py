"""Compiled with Cython by hand, for check_reference.py's COMPILED_SAMPLES_DIR (real compiled objects)."""
_box = []


def gen():
    yield 1
    yield 2


def outer():
    r = yield from gen()
    return r


async def coro():
    return 1


async def agen():
    yield 1


def _observer(ai):
    yield ai.getasyncstate(_box[0])


def run_and_observe(ai):
    """The state of a Cython generator, read from inside its own body."""
    g = _observer(ai)
    _box.append(g)
    try:
        return next(g)
    finally:
        g.close()
        _box.clear()
