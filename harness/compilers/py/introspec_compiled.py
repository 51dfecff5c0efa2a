"""The compiled case modules of one introspec column (written by harness/compilers).

Every case module, and each library's own module, lives in a shared library of this
directory that holds several PyInit_<name> functions; introspec_compiled.json maps each
module name to its library. install() puts a finder first on sys.meta_path that imports
those names with importlib.machinery.ExtensionFileLoader(name, library), then imports the
libraries' own modules (`preload`) so that a library that cannot load breaks the column at
start, not each case.
"""

import importlib
import importlib.machinery
import importlib.util
import json
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))

with open(os.path.join(_HERE, "introspec_compiled.json")) as _f:
    _MANIFEST = json.load(_f)

LIBRARIES = dict((name, os.path.join(_HERE, lib)) for name, lib in _MANIFEST["libraries"].items())


class CompiledCaseFinder(object):
    """Finds the compiled case modules of this directory."""

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        lib = LIBRARIES.get(name)
        if lib is None:
            return None
        loader = importlib.machinery.ExtensionFileLoader(name, lib)
        return importlib.util.spec_from_file_location(name, lib, loader=loader)

    @classmethod
    def invalidate_caches(cls):
        pass


def install():
    if CompiledCaseFinder not in sys.meta_path:
        sys.meta_path.insert(0, CompiledCaseFinder)
    for name in _MANIFEST["preload"]:
        importlib.import_module(name)
