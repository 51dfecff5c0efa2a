"""Run by harness/compilers with the python of a virtual environment holding mypy.

Reads a JSON request line on stdin: {"groups": [[GROUP, [FILE.py, ...]], ...], "options": [mypy
options]} (the files are in the current directory), compiles every file to C with mypyc, one
group (one C translation unit) per GROUP, and prints one JSON line:

    {"ok": true, "groups": [{"name": GROUP, "lib": "GROUP__mypyc", "modules": [...],
                             "sources": [C files], "include_dirs": [...], "cflags": [...],
                             "macros": [[NAME, VALUE], ...], "shims": C text}]}
    {"ok": false, "messages": "what mypy and mypyc printed"}

After a failure it reads one more line: {"drop": [FILE.py, ...]} (the files the harness found
to blame) to try again without them, or {"stop": true}; it exits after a success, a stop or
the end of its input. The rounds share one process and a private mypy cache directory (new
for this process), so the standard library's stubs are analysed once, not once per round:
a later round costs a twentieth of the first, and its C is byte for byte what a fresh
process makes of the same files. With "seed": DIR in the request, the private cache starts
as a copy of DIR, a cache this driver made for the same runtime, mypy and options (the
harness makes one per runtime with "cache": DIR and a module that only imports), so that
every group of a build skips the stubs too.

Before compiling, every name a case uses as a global but never binds at module level (the
names the harness puts in the namespace, like `observe`, and those a function declares
`global` and binds only when it runs) is declared at the end of its file as
`NAME: _introspec_typing.Any`: mypy rejects names it cannot see, mypyc crashes on a `global`
name the module does not bind, and a declared name is looked up in the module's namespace at
run time, as Python does. The case's own lines keep their numbers.

`shims` holds, for every module of the group, the PyInit_<module> function of mypyc's own
module shim template, so that the group's modules and the group library all live in one
shared library (the harness links them; it never uses setuptools to build).
"""

import contextlib
import io
import json
import os
import sys
import tempfile
import traceback


def shim_text(template, module, lib, exported):
    text = template.format(modname=module, libname=lib, full_modname=exported)
    # the template's PyInit___init__ (a distutils workaround) would clash between modules
    keep = []
    for line in text.splitlines():
        if "PyInit___init__" in line or line.startswith("// distutils sometimes") or line.startswith("// so provide that"):
            continue
        keep.append(line)
    return "\n".join(keep) + "\n"


def free_globals(source, filename):
    """Names used as globals in `source` that its module level neither binds nor annotates."""
    import builtins
    import symtable

    top = symtable.symtable(source, filename, "exec")
    bound = set()
    wanted = set()
    for sym in top.get_symbols():
        name = sym.get_name()
        annotated = getattr(sym, "is_annotated", lambda: False)()
        if sym.is_assigned() or sym.is_imported() or annotated:
            bound.add(name)
        elif sym.is_referenced():
            wanted.add(name)

    def visit(table):
        for child in table.get_children():
            for sym in child.get_symbols():
                if sym.is_global() or sym.is_declared_global():
                    wanted.add(sym.get_name())
            visit(child)

    visit(top)
    return sorted(n for n in wanted - bound if not hasattr(builtins, n) and not (n.startswith("__") and n.endswith("__")))


def declare_free_globals(path):
    with open(path) as f:
        source = f.read()
    try:
        names = free_globals(source, path)
    except SyntaxError:
        return  # mypy reports it
    if names:
        with open(path, "a") as f:
            f.write("".join("%s: _introspec_typing.Any\n" % n for n in names))


def build(groups, options, cache):
    """One round: mypycify every group; the answer to print."""
    files = [f for _, fs in groups for f in fs]
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            from mypyc.build import mypycify, include_dir
            from mypyc.common import shared_lib_name
            from mypyc.namegen import exported_name

            exts = mypycify(
                list(options) + ["--cache-dir", cache] + files,
                separate=[(fs, name) for name, fs in groups],
                opt_level="0",
                debug_level="0",
                target_dir="build",
            )
    except SystemExit:
        return {"ok": False, "messages": out.getvalue()}
    except BaseException:
        return {"ok": False, "messages": out.getvalue() + traceback.format_exc()}
    with open(os.path.join(include_dir(), "module_shim.tmpl")) as f:
        template = f.read()
    by_name = dict((e.name, e) for e in exts)
    result = []
    for name, fs in groups:
        lib = shared_lib_name(name)
        ext = by_name.get(lib)
        if ext is None:
            return {"ok": False, "messages": out.getvalue() + "\nmypycify made no extension %s for group %s" % (lib, name)}
        modules = [os.path.splitext(os.path.basename(f))[0] for f in fs]
        shims = "".join(shim_text(template, m, lib, exported_name(m)) for m in modules)
        result.append({
            "name": name,
            "lib": lib,
            "modules": modules,
            "sources": [os.path.abspath(s) for s in ext.sources],
            "include_dirs": [os.path.abspath(d) for d in ext.include_dirs],
            "cflags": list(ext.extra_compile_args or []),
            "macros": [[k, v] for k, v in (ext.define_macros or [])],
            "shims": shims,
        })
    return {"ok": True, "groups": result, "messages": out.getvalue()}


def main():
    req = json.loads(sys.stdin.readline())
    groups = req["groups"]
    options = req.get("options", [])
    for _, fs in groups:
        for f in fs:
            declare_free_globals(f)
    cache = req.get("cache") or tempfile.mkdtemp(prefix="mypy-cache-", dir=".")
    seed = req.get("seed")
    if seed and os.path.isdir(seed):
        import shutil
        cache = os.path.join(cache, "seeded")
        shutil.copytree(seed, cache)
    while True:
        answer = build(groups, options, cache)
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
        if answer["ok"]:
            return
        line = sys.stdin.readline()
        if not line.strip():
            return
        req = json.loads(line)
        if req.get("stop"):
            return
        drop = set(req.get("drop", []))
        groups = [[name, [f for f in fs if f not in drop]] for name, fs in groups]


main()
