#!/usr/bin/env python3
"""Cycles between the module files of Rust crates.

    scripts/cycles.py edge/src edge/tests wasm-viewer/src wire/src

Each argument is one crate's root directory: the crate root is its `lib.rs`, else its
`main.rs` (a directory with both holds two crates, the library and the binary; an
integration-test directory whose `main.rs` declares the other files with `mod x;` is one
crate whose `crate::` is that `main.rs`). The module tree is followed from the root
through `mod x;` declarations: `x.rs` or `x/mod.rs` beside a `lib.rs`/`main.rs`/`mod.rs`,
`foo/x.rs` or `foo/x/mod.rs` for a `foo.rs`, and inline `mod x { ... }` blocks, which
belong to the file they are written in.

An edge A -> B means file A refers to something in file B:
- a `use` tree (`use crate::a::{b, c::{d, e}};`, over several lines, `pub use` too),
- a path in code starting with `crate::`, `super::` or `self::`,
- a path in code starting with the name of a module declared in the current module
  (`child::f()`, the same as `self::child::f()`).
A path resolves to the deepest module file that exists: `crate::a::b::Item` is `a/b.rs`
if there is one, else the file of `a` (`a.rs` or `a/mod.rs`) where `b` is an item or an
inline module. `super` inside an inline `mod tests { ... }` is the file's own module.
Declaring `mod child;` is not an edge, only references are; a file's references to
itself are not edges; paths of other crates (`std::`, `wire::`) are not followed.
Comments (doc comments and their intra-doc links too) and string and character
literals are skipped.

Prints the files and edges counted per crate, then every elementary cycle (with the
first reference behind each of its edges) and exits 1 if there is one, else 0.
`--edges` first lists every edge with its first reference.
Python 3, standard library only.
"""

import os
import sys
from collections import defaultdict

# Enough for any real module graph; a dense tangle would otherwise print for ever.
MAX_CYCLES = 10_000


# ---------------------------------------------------------------------------------------
# Tokens: identifiers, `::`, and single punctuation characters, with their lines.
# Comments, strings, characters, lifetimes and numbers are dropped.


def tokenize(text):
    """Returns [(token, line)]."""
    tokens = []
    i, n, line = 0, len(text), 1

    def skip_string(j):
        # j is just after the opening quote; returns the index after the closing one.
        nonlocal line
        while j < n:
            c = text[j]
            if c == "\\":
                if j + 1 < n and text[j + 1] == "\n":
                    line += 1
                j += 2
                continue
            if c == "\n":
                line += 1
            if c == '"':
                return j + 1
            j += 1
        return j

    def skip_raw_string(j, hashes):
        # j is just after the opening quote.
        nonlocal line
        end = '"' + "#" * hashes
        k = text.find(end, j)
        k = n if k < 0 else k + len(end)
        line += text.count("\n", j, k)
        return k

    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            i += 1
        elif c.isspace():
            i += 1
        elif text.startswith("//", i):
            k = text.find("\n", i)
            i = n if k < 0 else k
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    if text[j] == "\n":
                        line += 1
                    j += 1
            i = j
        elif c == '"':
            i = skip_string(i + 1)
        elif c == "'":
            # 'x' and '\n' are characters; 'a and 'static are lifetimes.
            if i + 1 < n and text[i + 1] == "\\":
                j = i + 2
                while j < n and text[j] != "'":
                    j += 2 if text[j] == "\\" else 1
                i = j + 1
            elif i + 2 < n and text[i + 2] == "'":
                i += 3
            else:
                i += 1
                while i < n and (text[i].isalnum() or text[i] == "_"):
                    i += 1
        elif c.isalpha() or c == "_":
            j = i
            while j < n and (text[j].isalnum() or text[j] == "_"):
                j += 1
            word = text[i:j]
            if word in ("r", "br", "cr") and j < n and text[j] in '#"':
                k = j
                while k < n and text[k] == "#":
                    k += 1
                if k < n and text[k] == '"':
                    i = skip_raw_string(k + 1, k - j)
                    continue
                if word == "r" and k == j + 1:  # r#ident, a raw identifier
                    m = k
                    while m < n and (text[m].isalnum() or text[m] == "_"):
                        m += 1
                    tokens.append((text[k:m], line))
                    i = m
                    continue
            if word in ("b", "c") and j < n and text[j] == '"':
                i = skip_string(j + 1)
                continue
            if word == "b" and j < n and text[j] == "'":
                i = j  # the byte character is skipped as a character next
                continue
            tokens.append((word, line))
            i = j
        elif c.isdigit():
            while i < n and (text[i].isalnum() or text[i] == "_"):
                i += 1
        elif text.startswith("::", i):
            tokens.append(("::", line))
            i += 2
        else:
            tokens.append((c, line))
            i += 1
    return tokens


def is_ident(token):
    return token[0].isalpha() or token[0] == "_"


# ---------------------------------------------------------------------------------------
# One file: its `mod` declarations, inline modules and the paths it refers to.


class FileScan:
    def __init__(self):
        self.declared = []  # (inline module path within the file, child name)
        self.inline = []  # inline module paths within the file
        self.refs = []  # (inline module path, [segments], line, text)
        self.globs = []  # (inline module path, [segments]) of `use path::*`


def parse_use_tree(tokens, i):
    """Parses a use tree at tokens[i]; returns ([(segments, line)], next index)."""
    prefix, line = [], tokens[i][1] if i < len(tokens) else 0
    if i < len(tokens) and tokens[i][0] == "::":  # `use ::std::...`: another crate
        i += 1
        prefix.append("::")
    while i < len(tokens):
        tok, line = tokens[i]
        if tok == "{":
            paths, i = parse_use_list(tokens, i + 1)
            return [(prefix + p, l) for p, l in paths], i
        if tok == "*":
            return [(prefix + ["*"], line)], i + 1
        if is_ident(tok):
            prefix.append(tok)
            i += 1
            if i < len(tokens) and tokens[i][0] == "::":
                i += 1
                continue
            if i + 1 < len(tokens) and tokens[i][0] == "as":
                i += 2
            return [(prefix, line)], i
        break
    return [(prefix, line)], i


def parse_use_list(tokens, i):
    """Parses `a, b::{c}, ...}` after a `{`; returns (paths, index after the `}`)."""
    paths = []
    while i < len(tokens):
        tok = tokens[i][0]
        if tok == "}":
            return paths, i + 1
        if tok == ",":
            i += 1
            continue
        sub, j = parse_use_tree(tokens, i)
        # `self` in a list is the list's own prefix: `a::{self, b}` names `a`.
        paths += [([s for s in p if s != "self"] if p[:1] == ["self"] else p, l) for p, l in sub]
        i = j if j > i else i + 1
    return paths, i


def scan(text):
    tokens = tokenize(text)
    out = FileScan()
    stack = []  # one entry per open `{`: an inline module's name, or None
    here = lambda: tuple(s for s in stack if s is not None)
    i = 0
    while i < len(tokens):
        tok, line = tokens[i]
        if tok == "use":
            j = i + 1
            paths, j = parse_use_tree(tokens, j)
            for segments, l in paths:
                if segments and segments[0] != "::":
                    out.refs.append((here(), segments, l, "use " + "::".join(segments)))
                    if segments[-1] == "*":
                        out.globs.append((here(), segments[:-1]))
            while j < len(tokens) and tokens[j][0] != ";":
                j += 1
            i = j + 1
            continue
        if tok == "mod" and i + 2 < len(tokens) and is_ident(tokens[i + 1][0]):
            name, after = tokens[i + 1][0], tokens[i + 2][0]
            if after == ";":
                out.declared.append((here(), name))
                i += 3
                continue
            if after == "{":
                stack.append(name)
                out.inline.append(here())
                i += 3
                continue
        if tok == "{":
            stack.append(None)
        elif tok == "}":
            if stack:
                stack.pop()
        elif is_ident(tok) and i + 2 < len(tokens) and tokens[i + 1][0] == "::":
            prev = tokens[i - 1][0] if i else ""
            # The start of a path, not its middle, a `$crate` or a `pub(in crate::x)`.
            if prev not in ("::", "$") and not (prev == "in" and i >= 2 and tokens[i - 2][0] == "("):
                segments = [tok]
                j = i + 1
                while j + 1 < len(tokens) and tokens[j][0] == "::" and is_ident(tokens[j + 1][0]):
                    segments.append(tokens[j + 1][0])
                    j += 2
                if len(segments) > 1:
                    out.refs.append((here(), segments, line, "::".join(segments)))
                i = j
                continue
        i += 1
    return out


# ---------------------------------------------------------------------------------------
# One crate: the module tree from its root file, and the edges between its files.


class Crate:
    def __init__(self, root_file):
        self.root_file = root_file
        self.modules = {}  # module path (tuple) -> file
        self.files = {}  # file -> its own module path
        self.scans = {}  # file -> FileScan
        self.children = defaultdict(set)  # module path -> names of declared children
        self.missing = []  # (file, name) of a `mod name;` without a file
        self._load(root_file, ())
        # `use a::*` brings a's child modules into scope too (`use super::*` in tests).
        self.glob_children = defaultdict(set)
        for path, s in self.scans.items():
            for inline, segments in s.globs:
                scope = self.files[path] + inline
                target = self.absolute(scope, segments)
                if target is not None:
                    self.glob_children[scope] |= self.children.get(target, set())

    def _load(self, path, module):
        self.modules[module] = path
        self.files[path] = module
        with open(path, encoding="utf-8") as f:
            s = scan(f.read())
        self.scans[path] = s
        base = os.path.basename(path)
        folder = os.path.dirname(path)
        if base not in ("lib.rs", "main.rs", "mod.rs"):
            folder = os.path.join(folder, base[:-3])
        for inline in s.inline:
            self.modules[module + inline] = path
            if inline:
                self.children[module + inline[:-1]].add(inline[-1])
        for inline, name in s.declared:
            child_dir = os.path.join(folder, *inline)
            self.children[module + inline].add(name)
            for candidate in (os.path.join(child_dir, name + ".rs"), os.path.join(child_dir, name, "mod.rs")):
                if os.path.isfile(candidate):
                    self._load(candidate, module + inline + (name,))
                    break
            else:
                self.missing.append((path, name))

    def absolute(self, module, segments):
        """A path written in `module` from the crate root, or None for another crate's."""
        segments = [s for s in segments if s != "*"]
        if not segments:
            return None
        head = segments[0]
        if head == "crate":
            absolute, rest = [], segments[1:]
        elif head in ("super", "self"):
            absolute, rest = list(module), segments
            while rest and rest[0] in ("super", "self"):
                if rest[0] == "super":
                    if not absolute:
                        return None
                    absolute.pop()
                rest = rest[1:]
        elif head in self.children.get(module, ()):
            absolute, rest = list(module), segments
        else:
            return None
        return tuple(absolute + list(rest))

    def resolve(self, module, segments):
        """The deepest module file a path written in `module` reaches, or None."""
        full = self.absolute(module, segments)
        if full is None and segments[0] in self.glob_children.get(module, ()):
            for target in self.glob_targets(module):
                if segments[0] in self.children.get(target, ()):
                    full = target + tuple(segments)
                    break
        if full is None:
            return None
        for k in range(len(full), -1, -1):
            if full[:k] in self.modules:
                return self.modules[full[:k]]
        return None

    def glob_targets(self, module):
        path = self.modules.get(module)
        for inline, segments in self.scans[path].globs if path else ():
            if self.files[path] + inline == module:
                target = self.absolute(module, segments)
                if target is not None:
                    yield target

    def edges(self):
        """{(from file, to file): (line, text) of the first reference}."""
        found = {}
        for path, s in self.scans.items():
            module = self.files[path]
            for inline, segments, line, text in s.refs:
                target = self.resolve(module + inline, segments)
                if target and target != path and (path, target) not in found:
                    found[(path, target)] = (line, text)
        return found


def crate_roots(directory):
    roots = [os.path.join(directory, f) for f in ("lib.rs", "main.rs")]
    return [r for r in roots if os.path.isfile(r)]


# ---------------------------------------------------------------------------------------
# Cycles: Johnson's algorithm over each strongly connected component.


def strongly_connected(nodes, succ):
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]

    def visit(root):
        work = [(root, iter(sorted(succ[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(succ[w]))))
                    advanced = True
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                component = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    component.append(w)
                    if w == v:
                        break
                out.append(component)

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def simple_cycles(nodes, succ):
    """Every elementary cycle, each starting at its smallest node."""
    cycles = []
    order = sorted(nodes)
    for start_index, start in enumerate(order):
        allowed = set(order[start_index:])
        component = next(
            (set(c) for c in strongly_connected(allowed, {v: succ[v] & allowed for v in allowed}) if start in c),
            set(),
        )
        if len(component) < 2:
            continue
        sub = {v: succ[v] & component for v in component}
        blocked, blocked_by, path = set(), defaultdict(set), [start]

        def unblock(v):
            todo = [v]
            while todo:
                u = todo.pop()
                if u in blocked:
                    blocked.discard(u)
                    todo.extend(blocked_by.pop(u, ()))

        blocked.add(start)
        work = [(start, iter(sorted(sub[start])), False)]
        while work and len(cycles) < MAX_CYCLES:
            v, it, closed = work[-1]
            w = next(it, None)
            if w is not None:
                if w == start:
                    cycles.append(path + [start])
                    work[-1] = (v, it, True)
                elif w not in blocked:
                    path.append(w)
                    blocked.add(w)
                    work.append((w, iter(sorted(sub[w])), False))
                continue
            work.pop()
            path.pop()
            if closed:
                unblock(v)
                if work:
                    work[-1] = (work[-1][0], work[-1][1], True)
            else:
                for u in sub[v]:
                    blocked_by[u].add(v)
    return cycles


# ---------------------------------------------------------------------------------------


def main(args):
    if not args or any(a in ("-h", "--help") for a in args):
        print(__doc__.strip())
        return 0 if args else 2
    show_edges = "--edges" in args
    args = [a for a in args if a != "--edges"]
    any_cycle = False
    for directory in args:
        roots = crate_roots(directory)
        if not roots:
            print(f"{directory}: no lib.rs or main.rs", file=sys.stderr)
            return 2
        for root in roots:
            crate = Crate(root)
            for path, name in crate.missing:
                print(f"{path}: `mod {name};` has no file (skipped)", file=sys.stderr)
            edges = crate.edges()
            succ = defaultdict(set)
            for a, b in edges:
                succ[a].add(b)
            nodes = set(crate.files)
            for v in nodes:
                succ[v]  # every node has an entry
            cycles = simple_cycles(nodes, succ)
            print(f"{root}: {len(nodes)} files, {len(edges)} edges, {len(cycles)} cycles")
            if show_edges:
                for (a, b), (line, text) in sorted(edges.items()):
                    print(f"  edge: {os.path.relpath(a, directory)} -> {os.path.relpath(b, directory)}"
                          f"    ({a}:{line}: {text})")
            for cycle in cycles:
                any_cycle = True
                print("  cycle: " + " -> ".join(os.path.relpath(f, directory) for f in cycle))
                for a, b in zip(cycle, cycle[1:]):
                    line, text = edges[(a, b)]
                    print(f"    {a}:{line}: {text}")
            if len(cycles) >= MAX_CYCLES:
                print(f"  (stopped after {MAX_CYCLES} cycles)")
    return 1 if any_cycle else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
