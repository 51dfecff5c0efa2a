# introspec-testsuites: imported by `site` at the start of every Python process of a run
# whose PYTHONPATH holds this directory (regrtest's main process, the worker it starts per
# test file, and every subprocess a test starts without -E or -I). INTROSPEC_SUITES_MODE
# says what to do: "loaded" imports async_introspection only, "installed" also calls
# install(). Each process appends one line to INTROSPEC_SUITES_PROBE: whether it is a
# regrtest worker, and whether the proposal is in effect in it (checked on a fresh
# generator, coroutine and async generator, and on inspect), or why not.
import os
import sys


def _introspec_probe():
    mode = os.environ.get("INTROSPEC_SUITES_MODE", "")
    try:
        import async_introspection

        if mode != "installed":
            return "loaded"
        report = async_introspection.install()
        if not report["complete"]:
            return "incomplete " + repr(sorted(report["failed"]))
        import inspect

        def g():
            yield

        async def c():
            pass

        async def a():
            yield

        gen, cor, agen = g(), c(), a()
        ok = (
            gen.__code__ is gen.gi_code
            and cor.__frame__ is cor.cr_frame
            and agen.__running__ is agen.ag_running
            and inspect.getasyncstate(gen) == "ASYNC_CREATED"
        )
        cor.close()
        return "installed" if ok else "wrong"
    except BaseException as e:  # the probe says why; the process goes on bare
        return "failed " + type(e).__name__ + ": " + str(e)


def _introspec_record(state):
    path = os.environ.get("INTROSPEC_SUITES_PROBE")
    if not path:
        return
    argv = " ".join(getattr(sys, "orig_argv", None) or sys.argv or [])
    worker = "worker" in argv
    with open(path, "a", encoding="utf-8") as f:
        f.write(("worker " if worker else "other ") + state + "\n")


_introspec_record(_introspec_probe())
del _introspec_probe, _introspec_record
