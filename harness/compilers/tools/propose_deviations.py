#!/usr/bin/env python3
"""Propose the known deviations of the compiled columns (RUNTIME+cython, +mypyc, +nuitka).

    introspec run --column +cython --column +mypyc --out /tmp/compiled.json
    INTROSPEC_COMPILERS=nuitka introspec run --column +nuitka --out /tmp/nuitka.json
    python3 harness/compilers/tools/propose_deviations.py /tmp/compiled.json --out /tmp/proposed
    diff -u cases/deviations/cython.toml /tmp/proposed/cython.toml

Reads results files (introspec-results/1) and writes cython.toml, mypyc.toml and nuitka.toml
(for the compilers the files hold): for every
observable and layer that fails on a compiled column (checks left unexplained, or explained by
these files), the python range where it fails and the narrowest case globs that cover no
trial where the same checks pass (`*`, then a case family, then single cases), so that no
record is stale (XPASS). Reasons and upstream links come from the table R below, per compiler,
observable and layer; operation outcomes and cases that cannot be compiled or run get a reason
naming what was observed. Review the proposal before copying it: the table's reasons must stay
true for the records they are given to.
"""
import argparse, collections, json, os, re, sys

AP = argparse.ArgumentParser(description=__doc__.split("\n")[1])
AP.add_argument("results", nargs="+", help="results files of runs that include the compiled columns")
AP.add_argument("--out", default=".", help="directory for the proposed cython.toml, mypyc.toml, nuitka.toml")
ARGS = AP.parse_args()
os.makedirs(ARGS.out, exist_ok=True)

# ---- reasons and links, per (compiler, observable, layer[, 'async'])
CY7448 = "https://github.com/cython/cython/issues/7448"
CYFRAME = "https://github.com/cython/cython/pull/2806"
CYBACK = "https://github.com/cython/cython/issues/4207"
CYFLAGS = "https://github.com/cython/cython/issues/4888"
CYISCORO = "https://github.com/cython/cython/issues/2092"
CYATTRS = "https://github.com/cython/cython/issues/1285"
MY868 = "https://github.com/mypyc/mypyc/issues/868"
MY681 = "https://github.com/mypyc/mypyc/issues/681"
MY838 = "https://github.com/mypyc/mypyc/issues/838"
MY1110 = "https://github.com/mypyc/mypyc/issues/1110"
MYDIFF = "https://mypyc.readthedocs.io/en/latest/differences_from_python.html"
# ---- Nuitka (4.3.5): its source at the tag, where no issue says it
NUITKA_SRC = "https://github.com/Nuitka/Nuitka/blob/4.3.5/nuitka/build/static_src/"
NK3552 = "https://github.com/Nuitka/Nuitka/issues/3552"
NKLOCALS = "https://github.com/Nuitka/Nuitka/issues/200"
NKTRACE = "https://github.com/Nuitka/Nuitka/pull/3273"
NK_FRAME_NONE = ("Nuitka makes a compiled generator's, coroutine's or async generator's frame at its first resume: gi_frame/cr_frame/ag_frame is None before, so what is read from the frame of a created object (f_lasti, f_lineno, clear()) reads None or raises AttributeError on None", NK3552)
NK_CODE = ("Nuitka's compiled functions carry a code object that only describes them (name, file, line, argument counts): its co_flags lack CO_GENERATOR and CO_ITERABLE_COROUTINE, types.coroutine (replaced by Nuitka's own) changes no flag, inspect.isgenerator*/isgeneratorfunction read False for what it makes, a generator's gi_code is not its function's __code__, and __code__ cannot be assigned (RuntimeError '__code__ is not writable in Nuitka')", NUITKA_SRC + "InspectPatcher.c")
NK_STATE = ("Loading a Nuitka module replaces inspect.getgeneratorstate and getcoroutinestate by functions that answer for its compiled types, but not inspect.getasyncgenstate (3.12+), which reads ag_suspended (inherited from CPython's type, an undefined read of Nuitka's object: False in most runs) and ag_frame (None before the first resume): a created async generator reads AGEN_CLOSED and a suspended one AGEN_CREATED. On Nuitka's GeneratorWrapperEnhanced (its types._GeneratorWrapper) the state is read from the wrapper's own attributes, wrong the same way, and raises AttributeError from 3.11 (no gi_suspended)", NUITKA_SRC + "InspectPatcher.c")
NK_WRAPPER = ("Loading a Nuitka module replaces types._GeneratorWrapper by its subclass GeneratorWrapperEnhanced and types.coroutine by its own, process-wide: the wrapper's type name changes, it has no gi_suspended (inspect.getgeneratorstate raises AttributeError on it) and inspect's *locals functions refuse it ('is not a Python generator')", NUITKA_SRC + "InspectPatcher.c")
NK_ASEND = ("Nuitka's asend()/athrow() awaitables are compiled_async_generator_asend/compiled_async_generator_athrow objects of its own, not CPython's async_generator_asend/async_generator_athrow", NUITKA_SRC + "CompiledAsyncgenType.c")
NK_ORIGIN = ("cr_origin of a compiled coroutine is made from the frames Nuitka records, whose line numbers are not those of the calls that created it (-1, or the creating function's first line, where CPython gives the line of the call)", NUITKA_SRC + "CompiledCoroutineType.c")
NUITKA_R = {
 ("nuitka","frame","attributes"): ("Nuitka makes a compiled generator's, coroutine's or async generator's frame at its first resume: gi_frame/cr_frame/ag_frame is None before (which inspect reads as CLOSED); from then on it is a compiled_frame, a subclass of frame of Nuitka's own, not a frame", NK3552),
 ("nuitka","frame_lasti","attributes"): NK_FRAME_NONE,
 ("nuitka","frame_lineno","attributes"): ("A compiled_frame's f_lineno is the line Nuitka last recorded, which it updates at statements that can raise, not at each yield; before the first resume there is no frame (None)", NUITKA_SRC + "CompiledFrameType.c"),
 ("nuitka","frame_back","attributes"): ("A compiled_frame of a suspended generator or coroutine keeps the f_back of its last resume, where CPython's is None while it is suspended", NUITKA_SRC + "CompiledFrameType.c"),
 ("nuitka","frame_generator","attributes"): ("A compiled_frame has an f_generator attribute (None) on every Python version, where CPython's frames have it from 3.14 only", NUITKA_SRC + "CompiledFrameType.c"),
 ("nuitka","suspended","attributes"): ("compiled_generator, compiled_coroutine and compiled_async_generator subclass CPython's types but lay their objects out in structs of their own, and inherit gi_suspended/cr_suspended/ag_suspended, whose getters read CPython's frame-state byte at its offset in CPython's object: in Nuitka's object that byte belongs to another field, so the value is undefined (False in most runs here; True throughout one worker process on Debian's 3.11.2 in a CI run). Nuitka's GeneratorWrapperEnhanced, which replaces types._GeneratorWrapper, has none", "https://github.com/Nuitka/Nuitka/blob/4.3.5/nuitka/build/include/nuitka/compiled_coroutine.h#L34-L59"),
 ("nuitka","state","inspect"): NK_STATE,
 ("nuitka","locals","attributes"): ("Nuitka writes a function's locals to its frame only when an exception passes through it: f_locals reads {} otherwise (and there is no frame before the first resume)", NKLOCALS),
 ("nuitka","locals","inspect"): ("inspect.get*locals() read the frame's f_locals, which Nuitka fills only when an exception passes through the function ({} otherwise), and refuse Nuitka's GeneratorWrapperEnhanced", NKLOCALS),
 ("nuitka","delegate","attributes"): ("gi_yieldfrom/cr_await/ag_await name what Nuitka's compiled code delegates to, its own objects (a compiled_coroutine_wrapper for an awaited coroutine, a compiled_generator for an awaitable's iterator), not the object the code awaits", NUITKA_SRC + "CompiledCoroutineType.c"),
 ("nuitka","trace_events","events"): ("Compiled code calls no sys.settrace trace function: Nuitka's frames deliver no call, line, return or exception events (its work to let debuggers step through compiled frames began with this change, which says breakpoints still do not stop)", NKTRACE),
 ("nuitka","monitoring_events","events"): ("Compiled code fires no sys.monitoring (PEP 669) events: Nuitka's compiled functions do not call the monitoring C API, so a tool registered for PY_START, PY_YIELD, PY_RESUME and the others receives nothing from them", NKTRACE),
 ("nuitka","code","attributes"): NK_CODE,
 ("nuitka","code","proposal"): NK_CODE,
 ("nuitka","flag_generator","attributes"): NK_CODE,
 ("nuitka","is_generator","inspect"): NK_CODE,
 ("nuitka","is_generatorfunction","inspect"): NK_CODE,
 ("nuitka","name","attributes"): ("A compiled generator or coroutine takes __name__ and __qualname__ from its function as compiled, not from the function's __name__/__qualname__ when it is called", NUITKA_SRC + "CompiledGeneratorType.c"),
 ("nuitka","origin","attributes"): NK_ORIGIN,
}
# Nuitka's operation outcomes, by case (else by what was observed: nuitka_outcome)
NUITKA_OUTCOME = {
 "async_generator.fuzz.aclose-ignored-then-athrow": ("After aclose() was refused (the body yielded in its GeneratorExit handler), a compiled async generator's athrow() raises StopAsyncIteration where CPython throws the exception into the body", NUITKA_SRC + "CompiledAsyncgenType.c"),
 "async_generator.fuzz.reenter-asend": ("A compiled async generator re-entered by asend() from its own body raises RuntimeError('anext(): asynchronous generator is already running') where CPython raises ValueError('generator already executing')", NUITKA_SRC + "CompiledAsyncgenType.c"),
 "coroutine.errors.never_awaited_warns": ("A compiled coroutine that is never awaited is collected without CPython's RuntimeWarning \"coroutine '...' was never awaited\"", NUITKA_SRC + "CompiledCoroutineType.c"),
 "coroutine.origin.entry_shape": NK_ORIGIN,
 "delegation.coroutine.iterable_coroutine_yield_from_coroutine": ("Nuitka's replacement of types.coroutine does not make the generator an iterable coroutine (no CO_ITERABLE_COROUTINE), so its `yield from` of a coroutine raises TypeError(\"cannot 'yield from' a coroutine object in a non-coroutine generator\")", NUITKA_SRC + "InspectPatcher.c"),
 "generator.frame.lineno.kept_after_drop": NUITKA_R[("nuitka","frame_lineno","attributes")],
 "generator_wrapper.lifecycle": NK_WRAPPER,
 "iterable_coroutine.lifecycle.coroutine_inspect_functions": NK_WRAPPER,
 "inspect.getgeneratorstate.on_coroutine": NK_STATE,
 "function.iterable_coroutine.flags": NK_CODE,
 "iterable_coroutine.code.function_modified_in_place": NK_CODE,
 "generator.code.outlives_function_code_change": NK_CODE,
 "async_generator.frame.created_lasti": NK_FRAME_NONE,
 "generator.close.created_clears_frame": NK_FRAME_NONE,
}
# a case's own record where it says more than the observable's reason (any observable)
NUITKA_CASE = {
 ("generator.frame.clear_created", "state"): NK_FRAME_NONE,
 ("coroutine.frame.clear_created", "state"): NK_FRAME_NONE,
 ("coroutine.errors.yield_from_in_generator", "state"): ("After a `yield from` it refuses (TypeError, as CPython), Nuitka's compiled coroutine reads as closed (inspect.getcoroutinestate(), Nuitka's own, says CORO_CLOSED) where CPython's is untouched, still created", NUITKA_SRC + "CompiledCoroutineType.c"),
}
# cases that Nuitka-compiled code cannot run (observable = "error"), where an issue says more
NUITKA_ERROR = {
 "asyncio.task.eager_start": ("Nuitka-compiled coroutines started by asyncio's eager task factory take CPython 3.13 down: the worker dies with SIGSEGV (3.12 runs the case); Nuitka has a 3.13-only segfault in asyncio's task creation open", "https://github.com/Nuitka/Nuitka/issues/3592"),
}
def nuitka_outcome(observed):
    if "compiled_async_generator_a" in observed: return NK_ASEND
    if "compiled_frame" in observed: return ("Nuitka's frames are compiled_frame objects, a subclass of frame of its own", NK3552)
    if "NoneType' object has no attribute" in observed or observed.startswith("returns None"): return NK_FRAME_NONE
    if "compiled_coroutine" in observed: return ("Nuitka's compiled coroutine names its own type and the function in its error messages ('cannot reuse already awaited compiled_coroutine coro'), where CPython says 'cannot reuse already awaited coroutine'", NUITKA_SRC + "CompiledCoroutineType.c")
    if "GeneratorWrapperEnhanced" in observed: return NK_WRAPPER
    if "_CLOSED" in observed or "_CREATED" in observed: return NK_STATE
    return None

R = {
 # ---- Cython
 ("cython","suspended","attributes"): ("Cython's generator, coroutine and async generator types do not implement gi_suspended / cr_suspended (CPython 3.11) or ag_suspended (3.12): the attribute is missing", CY7448),
 ("cython","state","inspect"): ("inspect.getgeneratorstate/getcoroutinestate/getasyncgenstate read gi_suspended/cr_suspended/ag_suspended since 3.11 (3.12 for async generators), which Cython's types lack: every state but *_RUNNING raises AttributeError (before 3.11 the state is derived from the synthetic frame's f_lasti and is wrong where that frame is)", CY7448),
 ("cython","frame","attributes","async"): ("Cython's async generator type has no ag_frame at all", CY7448),
 ("cython","frame","attributes"): ("Cython's gi_frame/cr_frame is a synthetic frame made on first access (Cython runs no Python frame): it is not the frame the body runs in (sys._getframe() inside it), and it follows Cython's own rules for None", CYFRAME),
 ("cython","frame_back","attributes","async"): ("Cython's async generator type has no ag_frame, so there is no f_back to read", CY7448),
 ("cython","frame_back","attributes"): ("The synthetic frame of a Cython generator or coroutine is never linked into the call stack: its f_back is None even while the body runs", CYBACK),
 ("cython","frame_lasti","attributes","async"): ("Cython's async generator type has no ag_frame, so there is no f_lasti to read", CY7448),
 ("cython","frame_lasti","attributes"): ("The synthetic frame of a Cython generator or coroutine executes no bytecode: its f_lasti is not CPython's", CYFRAME),
 ("cython","locals","attributes","async"): ("Cython's async generator type has no ag_frame, so there are no frame locals to read", CY7448),
 ("cython","locals","attributes"): ("The synthetic frame of a Cython generator or coroutine is \"inspectable (although otherwise dead)\": its f_locals is empty, Cython keeps the locals in C variables", CYFRAME),
 ("cython","locals","inspect"): ("inspect.getgeneratorlocals/getcoroutinelocals/getasyncgenlocals accept only the builtin types (types.GeneratorType…): on a Cython object they raise TypeError, and where they run they read the synthetic frame's empty f_locals", CYISCORO),
 ("cython","code","attributes","async"): ("Cython's async generator type has no ag_code", CY7448),
 ("cython","code","attributes"): ("A Cython generator's or coroutine's gi_code/cr_code is a code object Cython makes for the generator body: it is not the function's __code__ (and reads None where Cython has not made one)", CYATTRS),
 ("cython","code","proposal"): ("The proposal's __code__ on a Cython object reads the same code object as gi_code/cr_code/ag_code, which is not the function's __code__ (see the attributes layer)", CYATTRS),
 ("cython","flag_generator","attributes"): ("The code objects Cython makes do not carry CPython's CO_GENERATOR/CO_COROUTINE/CO_ITERABLE_COROUTINE/CO_ASYNC_GENERATOR flags (and async generators have no ag_code to read them from)", CYFLAGS),
 ("cython","is_generator","inspect"): ("inspect.isgenerator, iscoroutine and isasyncgen test isinstance of the builtin types (types.GeneratorType, CoroutineType, AsyncGeneratorType): Cython's own types are not instances of them", CYISCORO),
 ("cython","is_generatorfunction","inspect"): ("inspect.isgeneratorfunction/iscoroutinefunction/isasyncgenfunction read the function's code flags, which Cython's code objects do not carry", CYFLAGS),
 ("cython","origin","attributes"): ("Cython's coroutine type has no cr_origin (sys.set_coroutine_origin_tracking_depth is not honoured)", CY7448),
 ("cython","delegate","attributes"): ("Cython's gi_yieldfrom/cr_await report the object it delegates to at points where CPython reports None (Cython tracks its delegation target in its own field, cleared on its own schedule)", CYATTRS),
 ("cython","name","attributes"): ("Cython names its objects after its own rules: generator expressions are `genexpr` (not `<genexpr>`), and a function renamed after definition still names its objects after the original", CYATTRS),
 ("cython","running","attributes"): ("Cython's gi_running/cr_running/ag_running follow Cython's own running flag, which differs from CPython's in this case", CYATTRS),
 # ---- mypyc
 ("mypyc","running","attributes"): ("mypyc compiles a generator or coroutine to a plain native class with only send/throw/close (and __await__/__next__): gi_running, cr_running and ag_running do not exist", MY868),
 ("mypyc","frame","attributes"): ("mypyc's generator and coroutine classes have no gi_frame/cr_frame: compiled code runs no Python frame", MY868),
 ("mypyc","frame_back","attributes"): ("mypyc's generator and coroutine classes have no gi_frame/cr_frame, so there is no f_back to read", MY868),
 ("mypyc","frame_lasti","attributes"): ("mypyc's generator and coroutine classes have no gi_frame/cr_frame, so there is no f_lasti to read", MY868),
 ("mypyc","locals","attributes"): ("mypyc's generator and coroutine classes have no gi_frame/cr_frame, so there are no frame locals to read", MY868),
 ("mypyc","locals","inspect"): ("inspect.get*locals accept only the builtin generator/coroutine types and read their frame: on a mypyc object they raise TypeError or find no locals", MY868),
 ("mypyc","suspended","attributes"): ("mypyc's generator and coroutine classes have no gi_suspended/cr_suspended", MY868),
 ("mypyc","delegate","attributes"): ("mypyc's generator and coroutine classes have no gi_yieldfrom/cr_await", MY868),
 ("mypyc","code","attributes"): ("mypyc compiles functions to builtin functions and generators to native classes: there is no __code__, gi_code or cr_code", MY838),
 ("mypyc","code","proposal"): ("mypyc compiles functions to builtin functions: there is no __code__", MY838),
 ("mypyc","flag_generator","attributes"): ("mypyc's functions and generators have no code object, so no CO_* flags to read", MY838),
 ("mypyc","state","inspect"): ("inspect.getgeneratorstate/getcoroutinestate read gi_running/cr_running first, which mypyc's classes lack: every call raises AttributeError", MY868),
 ("mypyc","name","attributes"): ("mypyc's generator and coroutine objects have no __name__/__qualname__ (and a compiled function's names are those of a builtin function)", MY868),
 ("mypyc","origin","attributes"): ("mypyc's coroutine class has no cr_origin", MY868),
 ("mypyc","is_generator","inspect"): ("inspect.isgenerator/iscoroutine/isawaitable test the builtin types or CO_ITERABLE_COROUTINE code flags: mypyc's native generator and coroutine classes are neither", MY1110),
 ("mypyc","is_generatorfunction","inspect"): ("inspect.isgeneratorfunction/iscoroutinefunction read the function's code flags; mypyc's compiled functions are builtin functions without code", MY1110),
}
R.update(NUITKA_R)
for o in ("flag_coroutine","flag_iterable_coroutine","flag_async_generator"):
    for c in ("cython","mypyc","nuitka"):
        R[(c,o,"attributes")] = R[(c,"flag_generator","attributes")]
for c in ("cython","mypyc","nuitka"):
    for o in ("is_coroutine","is_asyncgen","is_awaitable"):
        R[(c,o,"inspect")] = R[(c,"is_generator","inspect")]
    for o in ("is_coroutinefunction","is_asyncgenfunction"):
        R[(c,o,"inspect")] = R[(c,"is_generatorfunction","inspect")]
    R[(c,"qualname","attributes")] = R[(c,"name","attributes")]
R[("cython","flag_generator","attributes","async")] = ("Cython's async generator type has no ag_code, so no code flags to read", CY7448)
for o in ("flag_coroutine","flag_iterable_coroutine","flag_async_generator"):
    R[("cython",o,"attributes","async")] = R[("cython","flag_generator","attributes","async")]

# ---- what failed where
files = ARGS.results
trials = []
cols = {}
for f in files:
    r = json.load(open(f))
    for c in r['columns']:
        cols[c['name']] = c
    trials += r['trials']
def minor(col):
    v = cols[col]['runtime']['identity']['version'].split('.')
    return (int(v[0]), int(v[1]))
ALL = {'cython': [(3,8),(3,9),(3,10),(3,11),(3,12),(3,13)], 'mypyc': [(3,8),(3,9),(3,10),(3,11),(3,12),(3,13)],
       'nuitka': [(3,7),(3,8),(3,9),(3,10),(3,11),(3,12),(3,13)]}
def fam(case):
    p = case.split('.')
    return '.'.join(p[:2]) if p[0] in ('delegation', 'function') else p[0]
F = collections.defaultdict(lambda: collections.defaultdict(set))  # (comp,obs,layer) -> case -> versions failing
P = collections.defaultdict(lambda: collections.defaultdict(set))
EX = collections.defaultdict(collections.Counter)
PROB = {}
FAMALL = collections.defaultdict(lambda: collections.defaultdict(set))
ERR = collections.defaultdict(lambda: collections.defaultdict(set)); ERRMSG = {}
for t in trials:
    col = t['column']; comp = cols[col]['compiler']
    if comp == 'cpython': continue
    v = minor(col); case = t['case']
    if t['status'] != 'skip': FAMALL[comp][fam(case)].add(case)
    if t['status'] in ('error', 'crash', 'timeout', 'flaky') or (t['status'] == 'xfail' and (t['reason'] or '').startswith(('the case stopped', 'the worker died', 'no answer after'))):
        msg = t['reason'] or ''
        key = (comp,)
        ERR[comp][case].add(v); ERRMSG[(comp, case)] = msg
        continue
    if t['status'] not in ('fail', 'pass', 'xfail', 'xpass'): continue
    agg = collections.defaultdict(lambda: [0,0])
    for ty in t['tally']:
        k = (ty['observable'], ty['layer'])
        agg[k][0] += ty['pass']; agg[k][1] += ty['fail'] + ty['xfail']
    mine, others = set(), set()
    devs = t.get('deviations') or []
    for p in t.get('problems') or []:
        k = (p['observable'].replace('agreement:',''), p['layer'])
        di = p.get('deviation')
        origin = devs[di]['origin'] if di is not None and di < len(devs) else ''
        if di is None or any(origin.endswith(n) or ('/' + n + ':') in origin for n in ('cython.toml', 'mypyc.toml', 'nuitka.toml')):
            mine.add(k)
            PROB.setdefault('|'.join((comp, case, p['observable'], p['layer'])), (p['step'], p['read'], re.sub(r"0x[0-9a-f]+", "0x…", p['observed'])[:160], p['expected'][:160]))
            EX[(comp, p['observable'], p['layer'])][re.sub(r"0x[0-9a-f]+|#\d+|'[a-z_0-9]+_gen'", "", p['observed'])[:60] + ' / exp ' + p['expected'][:40]] += 1
        else:
            others.add(k)
    for k in mine:
        F[(comp,)+k][case].add(v)
    for k, (ps, fl) in agg.items():
        if k not in mine and k not in others and ps > 0:
            P[(comp,)+k][case].add(v)
def spec(vs, comp):
    vs = sorted(vs); allv = ALL[comp]
    lo, hi = vs[0], vs[-1]
    if lo == allv[0] and hi == allv[-1]: return None
    if hi == allv[-1]: return ">=%d.%d" % lo
    nxt = (hi[0], hi[1]+1)
    if lo == allv[0]: return "<%d.%d" % nxt
    if lo == hi: return "==%d.%d.*" % lo
    return ">=%d.%d,<%d.%d" % (lo + nxt)
def runs(vs, comp):
    allv = ALL[comp]; out=[]; cur=[]
    for v in allv:
        if v in vs: cur.append(v)
        elif cur: out.append(cur); cur=[]
    if cur: out.append(cur)
    return out
result = []
for key in sorted(F):
    comp, obs, layer = key
    fails = F[key]; passes = P[key]
    allvs = set().union(*fails.values())
    for run in runs(allvs, comp):
        S = set(run)
        fS = {c for c, vs in fails.items() if vs & S}
        pS = {c for c, vs in passes.items() if vs & S}
        if not pS:
            result.append((comp, obs, layer, '*', spec(run, comp), len(fS))); continue
        for f in sorted({fam(c) for c in fS}):
            fc = {c for c in fS if fam(c) == f}
            if not any(fam(c) == f for c in pS):
                result.append((comp, obs, layer, f + '.*', spec(run, comp), len(fc))); continue
            for c in sorted(fc):
                cv = fails[c] & S
                for r2 in runs(cv, comp):
                    if passes.get(c, set()) & set(r2):
                        for v in r2:
                            if v not in passes.get(c, set()): result.append((comp, obs, layer, c, spec([v], comp), 1))
                    else:
                        result.append((comp, obs, layer, c, spec(r2, comp), 1))
GEN = ({'devs': result, 'err': {c: {k: [sorted(v), ERRMSG[(c,k)]] for k, v in d.items()} for c, d in ERR.items()}, 'ex': {'|'.join(k): v.most_common(6) for k, v in EX.items()}, 'prob': PROB, 'famall': {c: {f: sorted(s) for f, s in d.items()} for c, d in FAMALL.items()}})

# ---- the records
CYLIM = "https://cython.readthedocs.io/en/latest/src/userguide/limitations.html"
NAME = {'cython': 'Cython', 'mypyc': 'mypyc', 'nuitka': 'Nuitka'}
LIMITS = {'cython': CYLIM, 'mypyc': MYDIFF, 'nuitka': NUITKA_SRC + 'CompiledGeneratorType.c'}
d = json.loads(json.dumps(GEN))
ASYNC = ('async_generator', 'asend', 'athrow', 'delegation.async_generator', 'function.async_generator')
def is_async(glob):
    return any(glob == a + '.*' or glob.startswith(a + '.') for a in ASYNC)
def q(s):
    return json.dumps(s, ensure_ascii=False)
out = {c: [] for c in sorted({t[0] for t in d['devs']} | set(d['err']))}
# reads whose value differs from run to run: one `varies = true` record for every case of the
# columns, whatever one run read (the judge records them as <varies>, so no per-case record fits)
VARIES = {
 ('nuitka', 'suspended', 'attributes'): ('>=3.11',) + R[('nuitka', 'suspended', 'attributes')],
 ('nuitka', 'frame_back', 'attributes'): ('>=3.11', R[('nuitka', 'frame_back', 'attributes')][0] + "; what it then reads depends on what became of that frame: the same case on cpython-3.13.0+nuitka read a frame in one run and None in the next (asyncio.task.awaits_task), so every f_back read there is recorded as varying", R[('nuitka', 'frame_back', 'attributes')][1]),
}
for (comp, obs, layer), (spec, reason, link) in VARIES.items():
    if comp in out:
        out[comp].append(dict(cases='*', python=spec, observable=obs, layer=layer, reason=reason, link=link, varies=True))
for comp, obs, layer, glob, spec, n in d['devs']:
    if (comp, obs, layer) in VARIES:
        continue
    if comp == 'mypyc' and (glob, obs) == ('coroutine.fuzz.resume-closed', 'outcome'):
        continue  # cases/deviations/regressions-compiled.toml says it
    r = R.get((comp, obs, layer, 'async' if is_async(glob) else 'sync')) or R.get((comp, obs, layer))
    if comp == 'nuitka' and (glob, obs) in NUITKA_CASE:
        r = NUITKA_CASE[(glob, obs)]
    elif obs == 'outcome' and comp == 'nuitka':
        p = d['prob'].get('|'.join((comp, glob, obs, layer)), (0, '', '', ''))
        r = NUITKA_OUTCOME.get(glob) or nuitka_outcome(p[2])
    if r is None:
        p = d['prob'].get('|'.join((comp, glob, obs, layer)))
        if p is None:  # a family glob without a generic reason: fall back to the first case's problem
            p = next((v for k, v in d['prob'].items() if k.startswith(comp + '|' + glob.rstrip('*')) and k.endswith('|' + obs + '|' + layer)), None)
        step, read, observed, expected = p if p else (0, obs, '?', '?')
        what = 'the number of observe() calls differs' if obs == 'observe-calls' else 'the outcome differs'
        r = ("Compiled with %s, %s: step %d (%s) %s where the spec expects %s" % (NAME[comp], what, step, read, observed, expected),
             LIMITS[comp])
    out[comp].append(dict(cases=glob, python=spec, observable=obs, layer=layer or None, reason=r[0], link=r[1]))
# errors
for comp, cases in d['err'].items():
    fams = collections.defaultdict(list)
    for case, (vs, msg) in cases.items():
        fams['.'.join(case.split('.')[:2]) if case.split('.')[0] in ('delegation', 'function') else case.split('.')[0]].append(case)
    for f, cs in sorted(fams.items()):
        msgs = [cases[c][1] for c in cs]
        allf = d['famall'][comp].get(f, [])
        unimpl = all('async generators are unimplemented' in m for m in msgs)
        if unimpl and set(cs) == set(allf) and f != 'async_generator':
            out[comp].append(dict(cases=f + '.*', python=None, observable='error', layer=None,
                reason="mypyc does not compile async generators (PEP 525): mypyc rejects every case of this family with `error: async generators are unimplemented`", link="https://github.com/mypyc/mypyc/issues/868"))
            continue
        for c in sorted(cs):
            if comp == 'mypyc' and c.startswith('async_generator.fuzz.'):
                continue  # cases/deviations/regressions-compiled.toml says it
            vs, m = cases[c]
            m1 = m.replace('the case stopped in its compile phase: ', '').replace('mypycError: ', '').replace('cythonError: ', '')
            lines = [l.strip() for l in m1.split('\n') if l.strip()]
            body = ' '.join(lines[1:3]) if len(lines) > 1 and lines[0].endswith('case:') else ' '.join(lines[:2])
            body = re.sub(r'ic_[A-Za-z0-9_]+\.py:', 'line ', body)
            if 'async generators are unimplemented' in m:
                reason, link = "mypyc does not compile async generators (PEP 525), which this case uses: `%s`" % body[:200], "https://github.com/mypyc/mypyc/issues/868"
            elif 'AssertionError' in m:
                reason, link = "mypyc crashes on this case's source (an internal AssertionError): `%s`" % body[:200], "https://github.com/mypyc/mypyc/issues"
            elif 'the worker died' in m or 'no answer after' in m or 'CRASH' in m or 'TIMEOUT' in m:
                how = 'hangs (no answer in 10 s)' if ('no answer' in m or 'TIMEOUT' in m) and 'died' not in m else re.sub(r';.*', '', m.replace('the worker died: ', 'dies with '))[:60]
                vers = sorted(set('%d.%d' % tuple(v) for v in vs))
                reason, link = "%s-compiled code takes the interpreter down in this case: the worker %s (seen on Python %s); the case cannot be observed there" % (NAME[comp], how, ', '.join(vers)), ("https://github.com/mypyc/mypyc/issues?q=is%3Aissue+generator+crash" if comp == 'mypyc' else "https://github.com/cython/cython/issues?q=is%3Aissue+generator+crash")
                spec_vs = [tuple(v) for v in vs]
            elif 'compile phase' in m:
                reason, link = "%s rejects this case's source: `%s`" % (NAME[comp], body[:220]), LIMITS[comp]
            else:
                reason, link = "Compiled with %s, the case cannot run: %s" % (NAME[comp], body[:220]), LIMITS[comp]
            spec = None
            if 'the worker died' in m or 'no answer after' in m or 'CRASH' in m or 'TIMEOUT' in m:
                import importlib; g = {}
                allv = ALL[comp]
                vv = sorted(tuple(v) for v in vs)
                spec = ('==%d.%d.*' % vv[0]) if len(vv) == 1 else ('<%d.%d' % (vv[-1][0], vv[-1][1] + 1) if vv[0] == allv[0] else '>=%d.%d' % vv[0])
            if comp == 'nuitka' and c in NUITKA_ERROR:
                reason, link = NUITKA_ERROR[c]
            out[comp].append(dict(cases=c, python=spec, observable='error', layer=None, reason=reason, link=link))
HEAD = {
 'cython': """# Known deviations of the cases compiled with Cython (the RUNTIME+cython columns, built by
# harness/compilers with the Cython pinned there). The expectations stay as the spec says;
# each record names what Cython's compiled generators, coroutines and async generators lack
# or do differently, per observable and layer, with the upstream issue. Records for one case
# say what that case shows.
""",
 'mypyc': """# Known deviations of the cases compiled with mypyc (the RUNTIME+mypyc columns, built by
# harness/compilers with the mypy pinned there). mypyc compiles a generator or coroutine to a
# native class with send/throw/close only, so most of today's introspection attributes do not
# exist; async generators are not compiled at all. Each record says what is missing, per
# observable and layer, with the upstream issue.
""",
 'nuitka': """# Known deviations of the cases compiled with Nuitka (the RUNTIME+nuitka columns, built by
# harness/compilers with the Nuitka pinned there; opt-in: INTROSPEC_COMPILERS=cython,mypyc,nuitka).
# Nuitka's compiled_generator, compiled_coroutine and compiled_async_generator subclass CPython's
# types and keep most of their attributes, but make their frame late and of their own type,
# inherit CPython's *_suspended getters (undefined reads of their own objects: recorded as
# varying), fire no trace or monitoring events, and loading a Nuitka
# module replaces inspect.getgeneratorstate/getcoroutinestate, types.coroutine and
# types._GeneratorWrapper process-wide. Links go to Nuitka's issues, or to its source at the
# 4.3.5 tag where no issue says it. Proposed by harness/compilers/tools/propose_deviations.py.
"""}
for comp, devs in out.items():
    lines = [HEAD[comp]]
    for dv in devs:
        lines.append('\n[[deviation]]')
        lines.append('cases = %s' % q(dv['cases']))
        w = ['compiler = %s' % q(comp)]
        if dv['python']: w.append('python = %s' % q(dv['python']))
        lines.append('when = { %s }' % ', '.join(w))
        if dv['observable']: lines.append('observable = %s' % q(dv['observable']))
        if dv['layer']: lines.append('layer = %s' % q(dv['layer']))
        if dv.get('varies'): lines.append('varies = true')
        lines.append('reason = %s' % q(dv['reason']))
        lines.append('link = %s' % q(dv['link']))
    open(os.path.join(ARGS.out, '%s.toml' % comp), 'w').write('\n'.join(lines) + '\n')
    print(comp, len(devs))
