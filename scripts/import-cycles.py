#!/usr/bin/env python3
"""Find import cycles between the files of Rust crates.

Usage: python3 scripts/import-cycles.py [--fail] [--edges] [--strict] <crate src dir> [<crate src dir> ...]

For each crate source directory every .rs file is mapped to its module path
(lib.rs / main.rs = crate root, foo/mod.rs = foo, foo.rs = foo, foo/bar.rs = foo::bar).
References in non-comment code to `crate::...`, `super::...` and `self::...`
(including inside `use` groups such as `use crate::{a::B, c::{d, e}}`), paths that
start with a name a `use` of the file brought in (`use crate::service; service::x::Y`),
and relative `use child::...` paths are resolved to the deepest existing module file.
`pub use` re-exports (in any module file, the crate root included) are followed, so
`crate::Fastvue` resolves to the file of `fastvue` when lib.rs has
`pub use fastvue::Fastvue;`; glob re-exports are followed when the target file
defines the name.

Edges between a file and itself or one of its ancestor/descendant modules are
ignored. Strongly connected components (Tarjan) of more than one file are reported
with one example reference line per edge inside the component.

With --strict a reference from a file to one of its ancestor modules (child ->
parent, e.g. `use super::Profile` resolving to the parent's own file) is kept as an
edge; references from a file to its own descendants (parent -> child: `mod` items,
`pub use child::X` re-exports, any other use of a child) are still ignored.

With --edges every resolved edge is listed too.
With --fail the exit status is 1 when any crate has a cycle.
"""

import os
import re
import sys
from collections import defaultdict

# ---------------------------------------------------------------------------
# Lexing: tokens of Rust source without comments, strings or char literals.
# ---------------------------------------------------------------------------

IDENT_START = re.compile(r"[A-Za-z_]")
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
RAW_STR = re.compile(r'(?:br|cr|r)(#*)"')
PREFIXED_STR = re.compile(r'(?:b|c)"')


class Tok:
    __slots__ = ("kind", "val", "line")

    def __init__(self, kind, val, line):
        self.kind = kind  # 'id', 'p' (punct), 'lit'
        self.val = val
        self.line = line

    def __repr__(self):
        return f"{self.kind}:{self.val}@{self.line}"


def lex(src):
    toks = []
    i, n, line = 0, len(src), 1
    while i < n:
        c = src[i]
        if c == "\n":
            line += 1
            i += 1
            continue
        if c.isspace():
            i += 1
            continue
        # Comments: //, ///, //! and nested /* */.
        if src.startswith("//", i):
            j = src.find("\n", i)
            i = n if j < 0 else j
            continue
        if src.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if src.startswith("/*", i):
                    depth += 1
                    i += 2
                elif src.startswith("*/", i):
                    depth -= 1
                    i += 2
                else:
                    if src[i] == "\n":
                        line += 1
                    i += 1
            continue
        # Raw strings r"..", r#".."#, br#".."#, cr".."
        m = RAW_STR.match(src, i)
        if m:
            hashes = m.group(1)
            end = '"' + hashes
            j = src.find(end, m.end())
            j = n if j < 0 else j + len(end)
            line += src.count("\n", i, j)
            toks.append(Tok("lit", "str", line))
            i = j
            continue
        # Strings "..", b"..", c".."
        m = PREFIXED_STR.match(src, i)
        if c == '"' or m:
            j = (m.end() if m else i + 1)
            while j < n and src[j] != '"':
                if src[j] == "\\":
                    j += 1
                j += 1
            j += 1
            line += src.count("\n", i, min(j, n))
            toks.append(Tok("lit", "str", line))
            i = j
            continue
        # Byte char b'x'
        if c == "b" and i + 1 < n and src[i + 1] == "'":
            j = i + 2
            if j < n and src[j] == "\\":
                j += 2
            while j < n and src[j] != "'":
                j += 1
            toks.append(Tok("lit", "char", line))
            i = j + 1
            continue
        # Char literal or lifetime.
        if c == "'":
            if i + 1 < n and src[i + 1] == "\\":
                j = i + 2
                while j < n and src[j] != "'":
                    j += 1
                toks.append(Tok("lit", "char", line))
                i = j + 1
                continue
            if i + 2 < n and src[i + 2] == "'":
                toks.append(Tok("lit", "char", line))
                i += 3
                continue
            m = IDENT.match(src, i + 1)
            if m:  # lifetime / label
                toks.append(Tok("lit", "lifetime", line))
                i = m.end()
                continue
            toks.append(Tok("p", "'", line))
            i += 1
            continue
        # Raw identifier r#name
        if src.startswith("r#", i) and i + 2 < n and IDENT_START.match(src[i + 2]):
            m = IDENT.match(src, i + 2)
            toks.append(Tok("id", m.group(0), line))
            i = m.end()
            continue
        if IDENT_START.match(c):
            m = IDENT.match(src, i)
            toks.append(Tok("id", m.group(0), line))
            i = m.end()
            continue
        if c.isdigit():
            j = i + 1
            while j < n and (src[j].isalnum() or src[j] == "_"):
                j += 1
            toks.append(Tok("lit", "num", line))
            i = j
            continue
        if src.startswith("::", i):
            toks.append(Tok("p", "::", line))
            i += 2
            continue
        toks.append(Tok("p", c, line))
        i += 1
    return toks


# ---------------------------------------------------------------------------
# Parsing what matters: module structure, `use` trees, paths, item names.
# ---------------------------------------------------------------------------

KEYWORD_ROOTS = ("crate", "super", "self")
ITEM_KW = ("struct", "enum", "fn", "trait", "type", "const", "static", "union")


def parse_use_tree(toks, i, prefix, out):
    """Parses a use tree at toks[i]; appends (segments, alias, leaf_line) to out.

    segments is the full path list (may end with '*'); alias is the name bound
    (None for globs). Returns the index after the tree."""
    segs = list(prefix)
    n = len(toks)
    if i < n and toks[i].val == "::" and not segs:
        i += 1  # leading `::` (extern path)
        segs.append("::")
    while i < n:
        t = toks[i]
        if t.val == "{":
            i += 1
            while i < n and toks[i].val != "}":
                if toks[i].val == ",":
                    i += 1
                    continue
                i = parse_use_tree(toks, i, segs, out)
            return i + 1
        if t.val == "*":
            out.append((segs + ["*"], None, t.line))
            return i + 1
        if t.kind == "id":
            name = t.val
            i += 1
            if i < n and toks[i].val == "::":
                segs.append(name)
                i += 1
                continue
            alias = name
            if i + 1 < n and toks[i].val == "as" and toks[i + 1].kind == "id":
                alias = toks[i + 1].val
                i += 2
            if name == "self" and segs:
                # `use a::b::{self}` binds `b`.
                if alias == "self":
                    alias = segs[-1]
                out.append((list(segs), alias, t.line))
            else:
                out.append((segs + [name], alias, t.line))
            return i
        # anything else: give up on this tree
        return i + 1
    return i


class FileInfo:
    def __init__(self, rel, module):
        self.rel = rel
        self.module = module  # tuple
        self.child_mods = set()  # names of `mod x;` / `mod x {}` declared at file level
        self.uses = []  # (mod_path, segments, alias, line, vis_pub)
        self.paths = []  # (mod_path, segments, line) non-use paths
        self.items = set()  # names defined at file level
        self.lines = []


def parse_file(info, src):
    info.lines = src.splitlines()
    toks = lex(src)
    n = len(toks)
    inline = []  # stack of (name, brace_depth_inside)
    depth = 0
    i = 0

    def cur_mod():
        return info.module + tuple(name for name, _ in inline)

    def at_item_level():
        return depth == (inline[-1][1] if inline else 0)

    while i < n:
        t = toks[i]
        v = t.val
        if v == "{":
            depth += 1
            i += 1
            continue
        if v == "}":
            if inline and inline[-1][1] == depth:
                inline.pop()
            depth -= 1
            i += 1
            continue
        if t.kind != "id":
            i += 1
            continue
        if v == "mod" and i + 1 < n and toks[i + 1].kind == "id":
            name = toks[i + 1].val
            if i + 2 < n and toks[i + 2].val == "{":
                if not inline and depth == 0:
                    info.child_mods.add(name)
                inline.append((name, depth + 1))
                depth += 1
                i += 3
                continue
            if not inline and depth == 0:
                info.child_mods.add(name)
            i += 2
            continue
        if v == "use" and (i == 0 or toks[i - 1].val != "::"):
            # visibility: look back for `pub` / `pub ( ... )`
            j = i - 1
            if j >= 0 and toks[j].val == ")":
                while j >= 0 and toks[j].val != "(":
                    j -= 1
                j -= 1
            is_pub = j >= 0 and toks[j].val == "pub"
            out = []
            k = parse_use_tree(toks, i + 1, [], out)
            m = cur_mod()
            file_level = not inline and depth == 0
            for segs, alias, line in out:
                info.uses.append((m, segs, alias, line, is_pub and file_level, file_level))
            i = max(k, i + 1)
            continue
        if (
            v in ITEM_KW
            and at_item_level()
            and not inline
            and i + 1 < n
            and toks[i + 1].kind == "id"
        ):
            info.items.add(toks[i + 1].val)
            i += 2
            continue
        if v == "macro_rules" and i + 2 < n and toks[i + 1].val == "!" and toks[i + 2].kind == "id":
            if not inline and depth == 0:
                info.items.add(toks[i + 2].val)
            i += 3
            continue
        # A path: ident :: ident ... (not preceded by `::` or `.`)
        prev = toks[i - 1].val if i > 0 else None
        if i + 1 < n and toks[i + 1].val == "::" and prev not in ("::", "."):
            segs = [v]
            k = i + 1
            line = t.line
            while k + 1 < n and toks[k].val == "::" and toks[k + 1].kind == "id":
                segs.append(toks[k + 1].val)
                line = toks[k + 1].line
                k += 2
            info.paths.append((cur_mod(), segs, line, prev == "$"))
            i = k
            continue
        i += 1


# ---------------------------------------------------------------------------
# Crate model and resolution.
# ---------------------------------------------------------------------------


class Crate:
    def __init__(self, src_dir):
        self.src_dir = os.path.normpath(src_dir)
        self.files = {}  # module tuple -> FileInfo
        self.main_separate = False
        rels = []
        for root, _dirs, names in os.walk(self.src_dir):
            for name in names:
                if name.endswith(".rs"):
                    rels.append(os.path.relpath(os.path.join(root, name), self.src_dir))
        rels.sort()
        has_lib = "lib.rs" in rels
        for rel in rels:
            module = self.module_of(rel, has_lib)
            if module is None:
                continue
            if module in self.files:
                print(
                    f"warning: {rel} and {self.files[module].rel} both map to "
                    f"{'::'.join(module) or 'crate'}",
                    file=sys.stderr,
                )
                continue
            info = FileInfo(rel, module)
            with open(os.path.join(self.src_dir, rel), encoding="utf-8") as f:
                parse_file(info, f.read())
            self.files[module] = info
        self.aliases = defaultdict(dict)  # module -> name -> absolute segments
        self.globs = defaultdict(list)  # module -> [absolute module segments]
        for info in self.files.values():
            for m, segs, alias, _line, is_pub, _fl in info.uses:
                if not is_pub:
                    continue
                absolute = self.absolutize(segs, m, info)
                if absolute is None:
                    continue
                if segs[-1] == "*":
                    self.globs[m].append(absolute[:-1])
                else:
                    self.aliases[m][alias] = absolute

    @staticmethod
    def module_of(rel, has_lib):
        parts = rel[:-3].split(os.sep)
        if len(parts) == 1 and parts[0] in ("lib", "main"):
            if parts[0] == "main" and has_lib:
                return ("<bin main.rs>",)  # a separate crate using the library by name
            return ()
        if parts[-1] == "mod":
            parts = parts[:-1]
        if parts and parts[0] == "bin":
            return ("<bin>",) + tuple(parts[1:])
        return tuple(parts)

    def crate_root_of(self, module):
        if module and module[0].startswith("<bin"):
            return module[:1]
        return ()

    def absolutize(self, segs, cur, info):
        """Turns a path written in module `cur` into absolute segments, or None when
        it is not a path into this crate."""
        if not segs:
            return None
        first = segs[0]
        if first == "crate":
            return list(self.crate_root_of(cur)) + segs[1:]
        if first in ("super", "self"):
            base = list(cur)
            k = 0
            while k < len(segs) and segs[k] in ("super", "self"):
                if segs[k] == "super":
                    if not base:
                        return None
                    base.pop()
                k += 1
            return base + segs[k:]
        # Relative path: a child module of the current module.
        if tuple(cur) + (first,) in self.files or (
            tuple(cur) == info.module and first in info.child_mods
        ):
            return list(cur) + segs
        return None

    def resolve(self, absolute, depth=0):
        """Deepest module file an absolute path refers to, following re-exports."""
        mod = ()
        # start at the crate root the path begins with
        k = 0
        if absolute and absolute[0].startswith("<bin"):
            mod = (absolute[0],)
            k = 1
        while k < len(absolute):
            s = absolute[k]
            if s == "*":
                break
            nxt = mod + (s,)
            if nxt in self.files or any(m[: len(nxt)] == nxt for m in self.files):
                mod = nxt
                k += 1
                continue
            if depth < 16 and s in self.aliases.get(mod, {}):
                return self.resolve(self.aliases[mod][s] + absolute[k + 1 :], depth + 1)
            if depth < 16:
                for g in self.globs.get(mod, []):
                    target = self.resolve(g, depth + 1)
                    tinfo = self.files.get(target)
                    if tinfo is not None and (
                        s in tinfo.items
                        or s in self.aliases.get(target, {})
                        or target + (s,) in self.files
                    ):
                        return self.resolve(list(target) + absolute[k:], depth + 1)
            break
        # an inline module (no file): climb to the file holding it
        while mod not in self.files and mod:
            mod = mod[:-1]
        return mod if mod in self.files else None

    def edges(self, strict=False):
        """{src module: {dst module: (line, text)}}

        strict: keep child -> ancestor edges (parent -> descendant ones stay ignored)."""
        result = defaultdict(dict)
        for info in self.files.values():
            local = {}  # names brought in by any `use` of this file -> absolute path
            refs = []  # (absolute segments, line)
            for m, segs, alias, line, _pub, _fl in info.uses:
                absolute = self.absolutize(segs, m, info)
                if absolute is None:
                    continue
                refs.append((absolute, line))
                if alias and segs[-1] != "*":
                    local[alias] = absolute
            for m, segs, line, dollar in info.paths:
                if segs[0] in KEYWORD_ROOTS:
                    if dollar and segs[0] == "crate":
                        # $crate::... in a macro: this crate when defined here
                        pass
                    absolute = self.absolutize(segs, m, info)
                elif segs[0] in local:
                    absolute = local[segs[0]] + segs[1:]
                else:
                    absolute = self.absolutize(segs, m, info)
                if absolute is not None:
                    refs.append((absolute, line))
            for absolute, line in refs:
                target = self.resolve(absolute)
                if target is None or target == info.module:
                    continue
                if strict:
                    if is_descendant_or_self(target, info.module):
                        continue
                elif related(target, info.module):
                    continue
                d = result[info.module]
                if target not in d:
                    text = info.lines[line - 1].strip() if 0 < line <= len(info.lines) else ""
                    d[target] = (line, text)
        return result


def related(a, b):
    """Whether one module is an ancestor of the other."""
    k = min(len(a), len(b))
    return a[:k] == b[:k]


def is_descendant_or_self(a, b):
    """Whether module a is b or one of b's descendants."""
    return a[: len(b)] == b


def tarjan(nodes, graph):
    index = {}
    low = {}
    on_stack = set()
    stack = []
    sccs = []
    counter = [0]

    def strong(v):
        # iterative Tarjan to avoid recursion limits
        work = [(v, iter(sorted(graph.get(v, ()))))]
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        while work:
            node, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                    advanced = True
                    break
                if w in on_stack:
                    low[node] = min(low[node], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == node:
                        break
                sccs.append(comp)

    for v in sorted(nodes):
        if v not in index:
            strong(v)
    return sccs


def report(src_dir, show_edges=False, strict=False):
    crate = Crate(src_dir)
    edges = crate.edges(strict)
    sccs = [c for c in tarjan(crate.files.keys(), edges) if len(c) > 1]
    sccs.sort(key=lambda c: (-len(c), sorted(crate.files[m].rel for m in c)))
    name = lambda m: crate.files[m].rel  # noqa: E731
    n_edges = sum(len(d) for d in edges.values())
    mode = " [strict]" if strict else ""
    print(f"== {src_dir}{mode}: {len(crate.files)} files, {n_edges} edges, {len(sccs)} cycle(s)")
    if show_edges:
        for m in sorted(edges, key=name):
            for t in sorted(edges[m], key=name):
                line, text = edges[m][t]
                print(f"  edge {name(m)} -> {name(t)}   ({name(m)}:{line}: {text})")
    for k, comp in enumerate(sccs, 1):
        members = sorted(comp, key=name)
        print(f"  cycle {k}: {len(comp)} files")
        for m in members:
            print(f"    {name(m)}")
        print("    edges:")
        inside = set(comp)
        for m in members:
            for t in sorted(edges.get(m, {}), key=name):
                if t in inside:
                    line, text = edges[m][t]
                    print(f"      {name(m)} -> {name(t)}   ({name(m)}:{line}: {text})")
    return len(sccs)


def main(argv):
    fail = False
    show_edges = False
    strict = False
    dirs = []
    for a in argv:
        if a == "--fail":
            fail = True
        elif a == "--edges":
            show_edges = True
        elif a == "--strict":
            strict = True
        elif a in ("-h", "--help"):
            print(__doc__)
            return 0
        else:
            dirs.append(a)
    if not dirs:
        print(__doc__, file=sys.stderr)
        return 2
    total = 0
    for d in dirs:
        if not os.path.isdir(d):
            print(f"error: {d} is not a directory", file=sys.stderr)
            return 2
        total += report(d, show_edges, strict)
    print(f"total: {total} cycle(s)")
    return 1 if (fail and total) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
