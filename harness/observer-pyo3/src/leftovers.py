# leftovers: what a case left behind in the worker, found and undone after every case
# (issue 14). One text for both observers: the PyO3 observer embeds it, and the harness puts
# it in place of the `# @leftovers` line of introspec_portable.py when it writes that file
# (harness/worker/src/observers.rs): Python 2.7 and 3.6+.
import gc as _lo_gc
import os as _lo_os
import signal as _lo_signal
import sys
import threading as _lo_threading
import time as _lo_time
try:
    import builtins as _lo_builtins
except ImportError:
    import __builtin__ as _lo_builtins

_LO_SIGNALS = [n for n in ("SIGALRM", "SIGVTALRM", "SIGPROF", "SIGUSR1", "SIGUSR2", "SIGHUP",
                           "SIGTERM", "SIGINT", "SIGCHLD", "SIGPIPE") if hasattr(_lo_signal, n)]
_LO_TIMERS = [n for n in ("ITIMER_REAL", "ITIMER_VIRTUAL", "ITIMER_PROF")
              if hasattr(_lo_signal, n)]
_LO_MISSING = object()
# how long threads a case started may take to end on their own
_LO_THREAD_GRACE = 0.2


def _lo_tools():
    mon = getattr(sys, "monitoring", None)
    if mon is None:
        return []
    return [i for i in range(6) if mon.get_tool(i) is not None]


def _lo_children():
    """The pids of this process's children (Linux: /proc/PID/task/TID/children), or None."""
    pid = _lo_os.getpid()
    kids = set()
    try:
        for tid in _lo_os.listdir("/proc/%d/task" % pid):
            f = open("/proc/%d/task/%s/children" % (pid, tid))
            try:
                kids.update(int(k) for k in f.read().split())
            finally:
                f.close()
    except (IOError, OSError, ValueError):
        return None
    return kids


def _lo_kill_children(before):
    """Kill and reap the children not in `before`, and the orphans that then come back to this
    process (the worker is a child subreaper); how many there were."""
    killed = set()
    for _ in range(20):
        kids = (_lo_children() or set()) - before - killed
        if not kids:
            break
        for k in kids:
            try:
                _lo_os.kill(k, _lo_signal.SIGKILL)
            except OSError:
                pass
        for k in kids:
            try:
                _lo_os.waitpid(k, 0)
            except OSError:
                pass
        killed |= kids
    return len(killed)


_LO_MODULE = type(sys)
_LO_SPECS = sys.version_info >= (3, 4)


def _lo_imported(name, m):
    """Whether the new sys.modules entry `name` is what an import makes: a module the import
    system made (it has a __spec__; before 3.4, a __file__ or a built-in's name), a submodule
    that its package holds under that name (pyexpat.errors, which pyexpat's C code adds without
    a spec), the None of Python 2's relative-import cache, or any object that is not a module
    (stdlib aliases such as typing.io, which only their package's import adds). A bare
    types.ModuleType put there by hand is not."""
    if m is None or not isinstance(m, _LO_MODULE):
        return True
    if _LO_SPECS:
        if getattr(m, "__spec__", None) is not None:
            return True
    elif getattr(m, "__file__", None) is not None or name in sys.builtin_module_names:
        return True
    parent, _, attr = name.rpartition(".")
    return bool(parent) and getattr(sys.modules.get(parent), attr, None) is m


def _lo_modules(modules, modules_copy):
    """Give back sys.modules: the dict itself, every entry that existed before the case (put
    back when it was replaced or removed), and no entry the import system did not make; the
    names changed. A new module that was imported is no leftover."""
    changed = []
    if sys.modules is not modules:
        sys.modules = modules
        changed.append("sys.modules itself")
    now = modules
    # the common case, in C: the same entries (the dict compares an unchanged entry by
    # identity; a module, by default, equals itself alone)
    if len(now) != len(modules_copy) or now != modules_copy:
        for k, v in modules_copy.items():
            if now.get(k, _LO_MISSING) is not v:
                now[k] = v
                changed.append(k)
        for k in [k for k in now if k not in modules_copy]:
            if not _lo_imported(k, now[k]):
                del now[k]
                changed.append(k)
    return sorted(changed)


def _lo_handler_key(h):
    # Jython's getsignal answers a new wrapper (sun.misc.Signal$SunMiscHandler) of the Java
    # handler at every call, equal to no other wrapper. Its repr names a Java handler
    # (java.lang.Terminator$1@6240651f) by identity, but a handler installed natively (the
    # JVM's own, before any Python code ran) by a wrapper the JDK makes anew each time
    # (jdk.internal.misc.Signal$NativeHandler@<new hash>): no case can install one of those,
    # so they are all one handler here
    r = repr(h)
    if r.startswith("jdk.internal.misc.Signal$NativeHandler@"):
        return "jdk.internal.misc.Signal$NativeHandler"
    return r


def _lo_same_handler(a, b):
    return a == b or (type(a) is type(b) and _lo_handler_key(a) == _lo_handler_key(b))


def leftovers_save():
    """What a case may change and the observer gives back, before the case."""
    return (set(_lo_threading.enumerate()), sys.gettrace(), sys.getprofile(),
            getattr(_lo_threading, "_trace_hook", None),
            getattr(_lo_threading, "_profile_hook", None),
            [(n, _lo_signal.getsignal(getattr(_lo_signal, n))) for n in _LO_SIGNALS],
            sys.path, list(sys.path), dict(_lo_builtins.__dict__), _lo_tools(),
            _lo_children(), sys.modules, dict(sys.modules))


def leftovers_check(saved):
    """Undo what the case left behind; [(what, undone)], undone False where it cannot be."""
    (threads, trace, profile, thook, phook, handlers, path, path_items, builtins_copy,
     tools, children, modules, modules_copy) = saved
    left = []
    if children is not None:
        n = _lo_kill_children(children)
        if n:
            left.append(("%d child process(es) left behind, killed" % n, True))
    new = [t for t in _lo_threading.enumerate() if t not in threads]
    deadline = _lo_time.time() + _LO_THREAD_GRACE
    for t in new:
        t.join(max(0.0, deadline - _lo_time.time()))
    alive = len([t for t in new if t.is_alive()])
    if alive:
        left.append(("%d thread(s) left running" % alive, False))
    for n in _LO_TIMERS:
        try:
            if _lo_signal.getitimer(getattr(_lo_signal, n)) != (0.0, 0.0):
                _lo_signal.setitimer(getattr(_lo_signal, n), 0)
                left.append(("an interval timer (%s)" % n, True))
        except Exception:
            left.append(("an interval timer (%s)" % n, False))
    for n, h in handlers:
        s = getattr(_lo_signal, n)
        try:
            if not _lo_same_handler(_lo_signal.getsignal(s), h):
                _lo_signal.signal(s, _lo_signal.SIG_DFL if h is None else h)
                left.append(("a handler for %s" % n, True))
        except Exception:
            left.append(("a handler for %s" % n, False))
    # what the case made unreachable is finalized now, in its own time (after its timers are
    # stopped): a finalizer that exits the process or hangs is the culprit's crash or timeout,
    # not a later case's. The young generations only: a full collection per case tripled the
    # time of a run (3-6 ms a case), and what a case made is young unless it made a lot
    _lo_gc.collect(1)
    if sys.gettrace() is not trace:
        sys.settrace(trace)
        left.append(("a tracer (sys.settrace)", True))
    if sys.getprofile() is not profile:
        sys.setprofile(profile)
        left.append(("a profiler (sys.setprofile)", True))
    if getattr(_lo_threading, "_trace_hook", None) is not thook:
        _lo_threading._trace_hook = thook
        left.append(("a tracer for new threads (threading.settrace)", True))
    if getattr(_lo_threading, "_profile_hook", None) is not phook:
        _lo_threading._profile_hook = phook
        left.append(("a profiler for new threads (threading.setprofile)", True))
    mon = getattr(sys, "monitoring", None)
    if mon is not None:
        for i in range(6):
            if i not in tools and mon.get_tool(i) is not None:
                try:
                    if hasattr(mon, "clear_tool_id"):
                        mon.clear_tool_id(i)
                    mon.set_events(i, 0)
                    mon.free_tool_id(i)
                    left.append(("a sys.monitoring tool (id %d)" % i, True))
                except Exception:
                    left.append(("a sys.monitoring tool (id %d)" % i, False))
    if sys.path is not path or sys.path != path_items:
        path[:] = path_items
        sys.path = path
        left.append(("a changed sys.path", True))
    d = _lo_builtins.__dict__
    changed = sorted(k for k in set(d) | set(builtins_copy)
                     if d.get(k, _LO_MISSING) is not builtins_copy.get(k, _LO_MISSING))
    if changed:
        for k in changed:
            if k in builtins_copy:
                d[k] = builtins_copy[k]
            else:
                del d[k]
        left.append(("changed builtins (%s)" % ", ".join(changed), True))
    try:
        changed = _lo_modules(modules, modules_copy)
        if changed:
            left.append(("changed sys.modules (%s)" % ", ".join(changed), True))
    except Exception as e:
        left.append(("changed sys.modules (%s)" % type(e).__name__, False))
    return left
# end of leftovers
