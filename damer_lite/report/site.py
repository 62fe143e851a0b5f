"""The offline companion site: the executed notebooks, the docs and the results index as one static HTML site.

    python -m damer_lite.report.site build --results results --out results/site
    python -m damer_lite.report.site check results/site --screenshot results/site/screenshot.png

`build` renders what is already on disk and executes nothing: every `RESULTS/notebooks/*.ipynb` with its
stored outputs (whatever notebooks exist), `README.md`, `docs/*.md`, `RESULTS/README.md` and every
`RESULTS/tables/*.md`. The generator is Sphinx with MyST-NB (the notebook reader of the Executable Books
project) and the Furo theme; equations are typeset at build time by KaTeX (sphinxcontrib-katex, prerender
mode) from the copy that `npm ci` vendors into `node_modules/`, so pages need neither JavaScript nor the
network to show them. Papermill's `parameters` and `injected-parameters` cells are collapsed, audio outputs
stay `<audio>` elements with their data inline, and `paper_vs_ours` gets a wide page (paper | ours side by
side, rows that we did not run folded).

Links between the rendered sources become links between pages; links to repository files the site does not
render (PDF figures, checkpoints, source code) point to the files themselves, relative to the site's folder,
so they work where the site was built (`results/site/` beside the results it shows).

`check` opens every page in headless Chromium (Debian's `chromium` + `chromium-driver`, through selenium)
and reports console errors, untypeset math, broken audio, images and internal links, requests that are not
local files, and any reference to a CDN; `tests/test_site.py` runs it on a fresh build.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

from damer_lite.paths import project_root
from damer_lite.report.results_index import describe

# parameter cells that papermill reads or writes, and what their collapsed toggle says
PARAMETER_TAGS = {
    "parameters": "Show the notebook's default parameters",
    "injected-parameters": "Show the parameters the pipeline injected (papermill)",
}
# host names of content delivery networks: no built file may name one
CDN_PATTERN = re.compile(
    r"(?:https?:)?//[\w.-]*(?:\bcdn\b|cdn\.|jsdelivr|unpkg|cdnjs|googleapis|gstatic|bootstrapcdn|cloudflare)"
    r"[\w.-]*", re.IGNORECASE)
LINK = re.compile(r"(?P<link>(?P<bang>!?)\[(?P<text>[^\]\n]*)\]\((?P<target>[^)\s]+)(?P<title>\s+\"[^\"]*\")?\))"
                  r"|(?P<code>(?P<ticks>`+).+?(?P=ticks))", re.DOTALL)
FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
URL_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")

CSS = """\
/* damer-lite companion site: small additions to Furo */
.dl-note { font-size: 0.9em; opacity: 0.85; }
/* the wide page: content spans the window, the table scrolls rather than squeezes */
.content:has(.dl-wide) { width: auto; flex: 1 1 auto; max-width: 120em; }
.dl-wide { overflow-x: auto; }
.dl-wide table { border-collapse: collapse; font-size: 0.85em; white-space: nowrap; }
.dl-wide th, .dl-wide td { border: 1px solid var(--color-background-border); padding: 0.2em 0.5em; }
.dl-wide thead th { background: var(--color-background-secondary); }
.dl-wide td.paper, .dl-wide th.paper { background: rgba(66, 133, 244, 0.08); }
.dl-wide td.ours, .dl-wide th.ours { background: rgba(52, 168, 83, 0.08); }
.dl-wide td.num { text-align: right; font-variant-numeric: tabular-nums; }
.dl-wide td.sep, .dl-wide th.sep { border-left: 3px solid var(--color-foreground-border); }
.dl-wide details { margin: 1em 0; }
.dl-wide summary { cursor: pointer; font-weight: 600; }
/* notebook outputs: wide tables scroll inside their cell */
div.cell_output div.output { overflow-x: auto; }
div.cell_output audio { display: block; margin: 0.4em 0; }
"""


class SiteError(RuntimeError):
    """The site cannot be built (missing tool or input); the message says what to do."""


# ----------------------------------------------------------------------------------------------- staging


def katex_dist(root: Path) -> Path:
    """The vendored KaTeX distribution (`npm ci` at the repository root)."""
    dist = root / "node_modules" / "katex" / "dist"
    if not (dist / "katex.min.js").is_file():
        raise SiteError(f"KaTeX is not vendored ({dist}/katex.min.js missing): run `make install` "
                        "(it runs `npm ci`, which needs Node.js and npm)")
    if shutil.which("node") is None:
        raise SiteError("node (Node.js) is not on PATH: KaTeX typesets the equations with it at build time")
    return dist


class Stage:
    """The Sphinx source tree: each rendered file under its page name, every link rewritten."""

    def __init__(self, root: Path, results: Path, src: Path, out: Path):
        self.root, self.results, self.src, self.out = root, results, src, out
        self.pages: dict[str, str] = {}  # absolute source path -> staged path (a page)
        self.assets: dict[str, str] = {}  # absolute source path -> staged path (copied file)
        self.broken: list[str] = []
        self.notebooks: list[str] = []
        self.tables: list[str] = []
        self.docs: list[str] = []

    # which file goes where
    def plan(self):
        r = self.results
        self._page(self.root / "README.md", "index.md")
        if (r / "README.md").is_file():
            self._page(r / "README.md", "results.md")
        for nb in sorted((r / "notebooks").glob("*.ipynb")):
            staged = f"notebooks/{nb.name}"
            self._page(nb, staged)
            self.notebooks.append(staged)
        for md in sorted((r / "tables").glob("*.md")):
            staged = f"tables/{md.name}"
            self._page(md, staged)
            self.tables.append(staged)
            if md.with_suffix(".csv").is_file():
                self.assets[_key(md.with_suffix(".csv"))] = f"tables/{md.stem}.csv"
        for png in sorted((r / "figures").glob("*.png")):
            self.assets[_key(png)] = f"figures/{png.name}"
        for md in sorted((self.root / "docs").glob("*.md")):
            staged = f"docs/{md.name}"
            self._page(md, staged)
            self.docs.append(staged)

    def _page(self, path: Path, staged: str):
        self.pages[_key(path)] = staged

    # link rewriting
    def rewrite(self, text: str, origin: Path, staged: str, bases: list[Path] | None = None) -> str:
        """Markdown `text` of `origin` (staged as `staged`) with every relative link pointing at the right place.

        `bases`: the folders relative links are read from, first match wins (default: the origin's folder)."""
        bases = bases or [origin.parent]

        def one(m: re.Match) -> str:
            if m.group("code") is not None:
                return m.group(0)
            target, text_ = m.group("target"), m.group("text")
            if target.startswith("#") or URL_SCHEME.match(target):
                return m.group(0)
            path, _, anchor = target.partition("#")
            new = self._resolve(path, bases, staged)
            if new is None:
                self.broken.append(f"{origin.name}: link to {target} (no such file)")
                return text_
            kind, where = new
            where += f"#{anchor}" if anchor else ""
            if kind == "site":
                return f"{m.group('bang')}[{text_}]({where}{m.group('title') or ''})"
            # a repository file the site does not hold: a plain HTML link, which Sphinx leaves alone
            return f'<a href="{html.escape(where)}">{_inline_html(text_)}</a>'

        parts, last = [], 0
        for f in FENCE.finditer(text):  # fenced code stays verbatim
            parts.append(LINK.sub(one, text[last:f.start()]))
            parts.append(f.group(0))
            last = f.end()
        parts.append(LINK.sub(one, text[last:]))
        return "".join(parts)

    def _resolve(self, path: str, bases: list[Path], staged: str):
        here = Path(staged).parent
        for base in bases:
            full = _key(base / path)
            if full in self.pages:
                return "site", _rel(self.pages[full], here)
            if full in self.assets:
                return "site", _rel(self.assets[full], here)
            if os.path.exists(full):
                return "file", os.path.relpath(full, self.out / here)
        return None

    # writers
    def write(self, rel: str, text: str):
        p = self.src / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")

    def write_all(self):
        for src_path, staged in self.assets.items():
            dst = self.src / staged
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src_path, dst)
        for src_path, staged in list(self.pages.items()):
            p = Path(src_path)
            if staged == "index.md":
                self.write(staged, self._index(p))
            elif staged.startswith("notebooks/"):
                self.write(staged, self._notebook(p, staged))
            elif staged == "tables/paper_vs_ours.md" and p.with_suffix(".csv").is_file():
                self.write(staged, paper_vs_ours_page(p.with_suffix(".csv"), self))
            elif staged.startswith("tables/"):
                self.write(staged, self._table(p, staged))
            else:
                self.write(staged, self.rewrite(p.read_text(encoding="utf-8"), p, staged))

    def _index(self, readme: Path) -> str:
        text = self.rewrite(readme.read_text(encoding="utf-8"), readme, "index.md")
        beside = (" (the paper's quoted numbers [beside ours](tables/paper_vs_ours.md))"
                  if "tables/paper_vs_ours.md" in self.tables else "")
        note = ("```{admonition} This site\n"
                "The offline companion of this repository, built by `make site` from the committed results: "
                f"the executed notebooks with their stored outputs, every results table{beside}, the results "
                "index and the docs. Nothing on it loads from the network.\n```\n")
        lines = text.splitlines(keepends=True)
        at = next((i + 1 for i, line in enumerate(lines) if line.startswith("# ")), 0)
        lines.insert(at, "\n" + note)
        tocs = [("Results", (["results.md"] if (self.results / "README.md").is_file() else [])
                 + (["tables/paper_vs_ours.md"] if "tables/paper_vs_ours.md" in self.tables else [])),
                ("Notebooks", self.notebooks),
                ("Tables", [t for t in self.tables if t != "tables/paper_vs_ours.md"]),
                ("Docs", self.docs)]
        out = ["".join(lines).rstrip() + "\n"]
        for caption, entries in tocs:
            if entries:
                names = "\n".join(e.rsplit(".", 1)[0] for e in entries)
                out.append(f"\n```{{toctree}}\n:caption: {caption}\n:hidden:\n:maxdepth: 1\n\n{names}\n```\n")
        return "".join(out)

    def _notebook(self, path: Path, staged: str) -> str:
        nb = json.loads(path.read_text(encoding="utf-8"))
        source_dir = self.root / "notebooks"  # authors write links relative to the unexecuted notebook
        for cell in nb.get("cells", []):
            meta = cell.setdefault("metadata", {})
            tags = meta.get("tags") or []
            hit = [t for t in tags if t in PARAMETER_TAGS]
            if hit:
                meta["tags"] = [*tags, "hide-cell"]
                meta.setdefault("mystnb", {})["code_prompt_show"] = PARAMETER_TAGS[hit[0]]
                meta["mystnb"]["code_prompt_hide"] = "Hide the parameters"
            if cell.get("cell_type") == "markdown":
                src = cell.get("source", "")
                src = "".join(src) if isinstance(src, list) else src
                cell["source"] = self.rewrite(src, path, staged, bases=[source_dir, path.parent])
        return json.dumps(nb, ensure_ascii=False)

    def _table(self, path: Path, staged: str) -> str:
        what, nb = describe(path.stem)
        head = [f"# {path.stem}", ""]
        facts = [what[:1].upper() + what[1:] + "." if what else ""]
        if nb:
            nb_page = next((n for n in self.notebooks if Path(n).stem.startswith(nb)), None)
            facts.append(f"Written by [{nb}](../{nb_page})." if nb_page else f"Written by notebook {nb}.")
        if path.with_suffix(".csv").is_file():
            facts.append(f"[{path.stem}.csv]({path.stem}.csv) (the same numbers, for a program to read).")
        head += [" ".join(f for f in facts if f), ""]
        body = self.rewrite(path.read_text(encoding="utf-8"), path, staged)
        figure = self.results / "figures" / f"{path.stem}.png"  # a figure of the same name shows the same numbers
        if _key(figure) in self.assets:
            body += f"\n\n![{path.stem}](../{self.assets[_key(figure)]})\n"
        return "\n".join(head) + "\n" + body


def _key(p: Path) -> str:
    return os.path.normpath(os.path.abspath(p))


def _rel(staged: str, here: Path) -> str:
    return Path(os.path.relpath(staged, here)).as_posix()


def _inline_html(text: str) -> str:
    """Markdown link text as HTML (code spans only; the rest escaped)."""
    parts = re.split(r"(`[^`]+`)", text)
    return "".join(f"<code>{html.escape(p[1:-1])}</code>" if p.startswith("`") and p.endswith("`") and len(p) > 1
                   else html.escape(p) for p in parts)


# ------------------------------------------------------------------------------------------ paper_vs_ours


def _not_run(value) -> bool:
    return isinstance(value, str) and value.strip().lower().startswith("not run")


def paper_vs_ours_page(csv: Path, stage: Stage | None = None) -> str:
    """The wide page: one row per (table, dataset, target, model), the paper's numbers | ours.

    Rows where ours were not run (dataset absent) are folded into a <details> block."""
    import pandas as pd

    df = pd.read_csv(csv, dtype=str, keep_default_na=False)
    if "source" not in df.columns:
        raise SiteError(f"{csv}: no 'source' column (expected 'paper (quoted)' / 'ours (measured)')")
    i = list(df.columns).index("source")
    keys, values = list(df.columns[:i]), list(df.columns[i + 1:])
    is_paper = df["source"].str.contains("paper", case=False)
    paper, ours = df[is_paper], df[~is_paper]

    def filled(frame, col):
        return frame[col].map(lambda v: v.strip() not in ("", "—", "-")).any()

    pcols = [c for c in values if filled(paper, c)]
    ocols = [c for c in values if filled(ours, c)]
    order = df[keys].drop_duplicates()
    p_by = {tuple(r[keys]): r for _, r in paper.iterrows()}
    o_by = {tuple(r[keys]): r for _, r in ours.iterrows()}
    run, folded = [], []
    for _, k in order.iterrows():
        key = tuple(k)
        p, o = p_by.get(key), o_by.get(key)
        row = ([("key", v) for v in key]
               + [("paper", p[c] if p is not None else "") for c in pcols]
               + [("ours", o[c] if o is not None else "") for c in ocols])
        (folded if o is not None and any(_not_run(o[c]) for c in ocols) else run).append(row)

    def table(rows):
        head1 = (f'<tr><th colspan="{len(keys)}"></th>'
                 f'<th class="paper sep" colspan="{len(pcols)}">paper (quoted)</th>'
                 f'<th class="ours sep" colspan="{len(ocols)}">ours (measured)</th></tr>')
        head2 = "<tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in keys)
        head2 += "".join(f'<th class="paper{" sep" if j == 0 else ""}">{html.escape(c)}</th>'
                         for j, c in enumerate(pcols))
        head2 += "".join(f'<th class="ours{" sep" if j == 0 else ""}">{html.escape(c)}</th>'
                         for j, c in enumerate(ocols)) + "</tr>"
        body = []
        for row in rows:
            cells, prev = [], None
            for side, v in row:
                cls = [side] if side != "key" else []
                if side != prev and side != "key":
                    cls.append("sep")
                if re.match(r"^-?\d", v or ""):
                    cls.append("num")
                attr = f' class="{" ".join(cls)}"' if cls else ""
                cells.append(f"<td{attr}>{html.escape(v or '')}</td>")
                prev = side
            body.append("<tr>" + "".join(cells) + "</tr>")
        return f"<table><thead>{head1}{head2}</thead><tbody>{''.join(body)}</tbody></table>"

    parts = [f'<div class="dl-wide">{table(run)}']
    if folded:
        datasets = sorted({r[keys.index("dataset")][1] for r in folded}) if "dataset" in keys else []
        what = f" ({', '.join(datasets)})" if datasets else ""
        parts.append(f"<details><summary>{len(folded)} rows not run here{html.escape(what)}: the paper's numbers "
                     f"only (show)</summary>{table(folded)}</details>")
    parts.append("</div>")
    md = csv.with_suffix(".md")
    links = f"[{csv.name}]({csv.name})"
    if stage is not None and md.is_file():
        links += f" · the same as a Markdown table: {stage.rewrite(f'[{md.name}]({md.name})', md, 'tables/x.md')}"
    return "\n".join([
        "---", "hide-toc: true", "---", "",
        "# paper_vs_ours",
        "",
        "The paper's numbers (quoted from its tables, never recomputed) beside ours (measured by this pipeline), "
        "one row per (table, dataset, target, model). Datasets we did not run show the paper's numbers only; "
        f"their {len(folded)} rows are folded below the table. SynthMemo numbers are ours only: SynthMemo is "
        "not in the paper, so they are not comparable with its numbers.",
        "",
        f"Files: {links}.",
        "",
        "```{raw} html",
        "\n".join(parts),
        "```",
        "",
    ])


# ------------------------------------------------------------------------------------------------- build


def sphinx_conf(katex_js: Path) -> str:
    conf = {
        "project": "damer-lite",
        "html_title": "damer-lite",
        "extensions": ["myst_nb", "sphinxcontrib.katex"],
        "html_theme": "furo",
        "html_math_renderer": "katex",
        "katex_prerender": True,
        "katex_js_path": str(katex_js),
        "katex_css_path": "katex/katex.min.css",
        "html_static_path": ["_static"],
        "html_css_files": ["site.css"],
        "html_copy_source": False,
        "html_show_sourcelink": False,
        "html_show_sphinx": False,
        "html_show_copyright": False,
        "myst_enable_extensions": ["dollarmath", "amsmath"],
        "myst_dmath_double_inline": True,
        "myst_heading_anchors": 3,
        "nb_execution_mode": "off",
        "nb_ipywidgets_js": {},
        "nb_merge_streams": True,
        "exclude_patterns": ["_build", "**.ipynb_checkpoints"],
        "suppress_warnings": ["myst.header"],
    }
    return "# written by damer_lite.report.site\n" + "".join(f"{k} = {v!r}\n" for k, v in conf.items())


class _KatexServer:
    """sphinxcontrib-katex's node render server, started here and stopped after the build.

    The extension starts it itself on first use, but connects as soon as the socket file appears, which on a
    loaded machine can be before node listens on it (ConnectionRefusedError). Started here, the connection is
    retried until node answers (30 s at most); the extension then finds the server running and uses it."""

    def __init__(self, katex_js: Path, timeout: float = 30.0):
        import socket
        import subprocess

        from sphinxcontrib import katex

        self.katex = katex
        katex.KaTeXServer.katex_path = str(katex_js)
        rundir = Path(tempfile.mkdtemp(prefix="damer-katex-"))
        sock_path = rundir / "katex.sock"
        proc = subprocess.Popen(katex.KaTeXServer.build_command(socket=sock_path), stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, cwd=rundir)
        deadline = time.monotonic() + timeout
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(str(sock_path))
                break
            except (FileNotFoundError, ConnectionRefusedError):
                sock.close()
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    shutil.rmtree(rundir, ignore_errors=True)
                    raise SiteError(f"the KaTeX render server (node) did not start (exit {proc.poll()})") from None
                time.sleep(0.02)
        self.server = katex.KaTeXServer(rundir, proc, sock)
        katex.KaTeXServer.katex_server = self.server

    def stop(self):
        if self.katex.KaTeXServer.katex_server is self.server:
            self.katex.KaTeXServer.katex_server = None
        self.server.terminate()


def build(results: Path, out: Path, root: Path | None = None, quiet: bool = True) -> dict:
    """Render `results` (+ the repository's README and docs) into the static site `out`; replaces `out`."""
    root = Path(root or project_root()).resolve()
    results, out = Path(results).absolute(), Path(out).absolute()
    if not (results / "notebooks").is_dir():
        raise SiteError(f"{results}/notebooks: no such folder (run `make results` first)")
    dist = katex_dist(root)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="damer-site-") as tmp:
        src, html_dir = Path(tmp) / "src", Path(tmp) / "html"
        stage = Stage(root, results, src, out)
        stage.plan()
        stage.write_all()
        static = src / "_static"
        (static / "katex" / "fonts").mkdir(parents=True)
        shutil.copyfile(dist / "katex.min.css", static / "katex" / "katex.min.css")
        for font in (dist / "fonts").glob("*.woff2"):  # every browser of the last years reads woff2
            shutil.copyfile(font, static / "katex" / "fonts" / font.name)
        (static / "site.css").write_text(CSS)
        (src / "conf.py").write_text(sphinx_conf(dist / "katex.min.js"))
        warnings = Path(tmp) / "warnings.txt"
        from sphinx.cmd.build import build_main

        # one process: the KaTeX server's connection is not shared across forked Sphinx workers
        args = ["-b", "html", "-d", str(Path(tmp) / "doctrees"), "-w", str(warnings), "-j", "1"]
        server = _KatexServer(dist / "katex.min.js")
        try:
            rc = build_main([*args, *(["-q"] if quiet else []), str(src), str(html_dir)])
        finally:
            server.stop()
        if rc != 0:
            raise SiteError(f"sphinx-build failed (exit {rc}):\n{warnings.read_text() if warnings.exists() else ''}")
        for junk in (".buildinfo", ".buildinfo.bak", "objects.inv"):  # Sphinx's bookkeeping, not the site
            (html_dir / junk).unlink(missing_ok=True)
        shutil.rmtree(html_dir / "_sources", ignore_errors=True)
        tmp_out = out.parent / f".{out.name}.tmp"
        shutil.rmtree(tmp_out, ignore_errors=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(html_dir, tmp_out)
        shutil.rmtree(out, ignore_errors=True)
        os.replace(tmp_out, out)
        warn = [w for w in warnings.read_text().splitlines() if w.strip()] if warnings.exists() else []
    files = [p for p in out.rglob("*") if p.is_file()]
    return {"site": str(out), "seconds": round(time.perf_counter() - t0, 1), "pages": len(list(out.rglob("*.html"))),
            "notebooks": len(stage.notebooks), "bytes": sum(p.stat().st_size for p in files),
            "broken_links": stage.broken, "sphinx_warnings": warn}


# ------------------------------------------------------------------------------------------------- check


def cdn_references(site: Path) -> list[str]:
    """'file: reference' for every CDN host named in the site's HTML, JavaScript or CSS."""
    found = []
    for p in sorted(site.rglob("*")):
        if p.suffix in (".html", ".js", ".css", ".map", ".json", ".svg") and p.is_file():
            for m in CDN_PATTERN.finditer(p.read_text(encoding="utf-8", errors="replace")):
                found.append(f"{p.relative_to(site)}: {m.group(0)}")
    return found


def find_browser() -> tuple[str, str] | None:
    """(chromium, chromedriver) executables, or None."""
    browser = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)),
                   None)
    driver = shutil.which("chromedriver") or ("/usr/lib/chromium/chromedriver"
                                               if os.path.exists("/usr/lib/chromium/chromedriver") else None)
    return (browser, driver) if browser and driver else None


_PAGE_JS = r"""
const skip = new Set(['PRE', 'CODE', 'SCRIPT', 'STYLE', 'TEXTAREA']);
let text = '';
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
while (walker.nextNode()) {
  let el = walker.currentNode.parentElement, ok = true;
  while (el) {
    if (skip.has(el.tagName) || el.classList.contains('katex')) { ok = false; break; }
    el = el.parentElement;
  }
  if (ok) text += walker.currentNode.nodeValue + '\n';
}
const audio = [...document.querySelectorAll('audio')].map(a => ({
  src: (a.currentSrc || a.src || '').slice(0, 30), ready: a.readyState, duration: a.duration,
  error: a.error ? a.error.code : null}));
const imgs = [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src.slice(0, 120));
const resources = performance.getEntriesByType('resource').map(r => r.name)
  .filter(n => !n.startsWith('file:') && !n.startsWith('data:'));
const wide = document.querySelector('.dl-wide table');
return {text: text, n_math: document.querySelectorAll('.math').length,
        n_katex: document.querySelectorAll('.katex').length,
        n_katex_error: document.querySelectorAll('.katex-error').length,
        audio: audio, broken_images: imgs, remote: resources,
        links: [...document.querySelectorAll('a[href]')].map(a => a.href),
        wide_px: wide ? wide.getBoundingClientRect().width : null,
        content_px: (document.querySelector('article') || document.body).getBoundingClientRect().width};
"""

_WAIT_AUDIO_JS = r"""
const done = arguments[arguments.length - 1];
const audio = [...document.querySelectorAll('audio')];
audio.forEach(a => { if (a.readyState < 1) a.load(); });
const t0 = Date.now();
(function poll() {
  if (audio.every(a => a.readyState >= 1 || a.error) || Date.now() - t0 > 8000) done(true);
  else setTimeout(poll, 50);
})();
"""

RAW_MATH = [re.compile(r"\$\$"), re.compile(r"\\\(|\\\)"), re.compile(r"\\\[|\\\]"), re.compile(r"\\begin\{"),
            re.compile(r"\$[^$\n]{0,200}\\[A-Za-z]+[^$\n]{0,200}\$")]


def _ids(path: Path, cache: dict) -> set[str]:
    if path not in cache:
        text = path.read_text(encoding="utf-8", errors="replace")
        cache[path] = set(re.findall(r"\bid=[\"']([^\"']+)[\"']", text)) | set(
            re.findall(r"\bname=[\"']([^\"']+)[\"']", text))
    return cache[path]


def check(site: Path, screenshot: Path | None = None, expect_audio: dict[str, int] | None = None) -> dict:
    """Open every page of `site` in headless Chromium; returns {"problems": [...], ...} (no problems = pass).

    expect_audio: page (relative .html path) -> least number of working <audio> elements it must hold."""
    from urllib.parse import unquote, urlparse

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    site = Path(site).absolute()
    found = find_browser()
    if found is None:
        raise SiteError("no headless browser: install Debian's chromium and chromium-driver "
                        "(apt-get install chromium chromium-driver)")
    browser, driver_bin = found
    opts = webdriver.ChromeOptions()
    opts.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,1000", "--autoplay-policy=no-user-gesture-required",
                # offline: any host name fails to resolve, so a remote request would show as an error
                "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    problems = [f"CDN reference: {r}" for r in cdn_references(site)]
    pages = sorted(site.rglob("*.html"))
    stats = {"pages": len(pages), "math_pages": 0, "katex": 0, "audio": 0, "links": 0}
    ids: dict = {}
    drv = webdriver.Chrome(service=Service(executable_path=driver_bin), options=opts)
    try:
        drv.set_script_timeout(20)
        for page in pages:
            rel = page.relative_to(site).as_posix()
            drv.get(page.as_uri())
            drv.execute_async_script(_WAIT_AUDIO_JS)
            info = drv.execute_script(_PAGE_JS)
            for entry in drv.get_log("browser"):
                if entry.get("level") == "SEVERE":
                    problems.append(f"{rel}: console error: {entry.get('message')}")
            for pat in RAW_MATH:
                m = pat.search(info["text"])
                if m:
                    a = max(m.start() - 40, 0)
                    problems.append(f"{rel}: untypeset math {info['text'][a:m.end() + 40]!r}")
            if info["n_math"]:
                stats["math_pages"] += 1
                if info["n_katex"] == 0:
                    problems.append(f"{rel}: {info['n_math']} math elements but no KaTeX output")
            if info["n_katex_error"]:
                problems.append(f"{rel}: {info['n_katex_error']} equations KaTeX could not parse")
            stats["katex"] += info["n_katex"]
            working = [a for a in info["audio"] if a["error"] is None and a["ready"] >= 1 and (a["duration"] or 0) > 0]
            for a in info["audio"]:
                if a not in working:
                    problems.append(f"{rel}: audio element does not load: {a}")
            stats["audio"] += len(working)
            want = (expect_audio or {}).get(rel, 0)
            if len(working) < want:
                problems.append(f"{rel}: {len(working)} working audio elements, expected {want}")
            problems += [f"{rel}: image does not load: {s}" for s in info["broken_images"]]
            problems += [f"{rel}: request that is not a local file: {r}" for r in info["remote"]]
            for href in info["links"]:
                u = urlparse(href)
                if u.scheme != "file":
                    continue
                stats["links"] += 1
                target = Path(unquote(u.path))
                if not target.exists():
                    problems.append(f"{rel}: broken link {href}")
                elif u.fragment and target.suffix == ".html" and target.is_relative_to(site):
                    if u.fragment not in _ids(target, ids):
                        problems.append(f"{rel}: link to a missing anchor {target.name}#{u.fragment}")
            if rel == "tables/paper_vs_ours.html" and info["wide_px"] is not None:
                stats["paper_vs_ours_px"] = round(info["wide_px"])
        if screenshot is not None:
            drv.get((site / "index.html").as_uri())
            Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
            drv.save_screenshot(str(screenshot))
    finally:
        drv.quit()
    return {"problems": problems, **stats}


# -------------------------------------------------------------------------------------------------- CLI


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="render the results into a static site")
    b.add_argument("--results", default="results")
    b.add_argument("--out", default=None, help="default: RESULTS/site")
    c = sub.add_parser("check", help="open every page in headless Chromium")
    c.add_argument("site")
    c.add_argument("--screenshot", default=None, help="PNG of the index page")
    c.add_argument("--if-browser", action="store_true", help="skip (exit 0) when Chromium is not installed")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "build":
            res = build(Path(args.results), Path(args.out or Path(args.results) / "site"))
            for w in res["broken_links"] + res["sphinx_warnings"]:
                print(f"site: warning: {w}", file=sys.stderr)
            print(json.dumps({k: v for k, v in res.items() if k not in ("broken_links", "sphinx_warnings")}
                             | {"warnings": len(res["broken_links"]) + len(res["sphinx_warnings"])}))
            return 0
        if args.if_browser and find_browser() is None:
            print("site: check skipped: no chromium + chromedriver here (apt-get install chromium chromium-driver)",
                  file=sys.stderr)
            return 0
        res = check(Path(args.site), Path(args.screenshot) if args.screenshot else None)
        for p in res["problems"]:
            print(f"site: {p}", file=sys.stderr)
        print(json.dumps({k: v for k, v in res.items() if k != "problems"} | {"problems": len(res["problems"])}))
        return 1 if res["problems"] else 0
    except SiteError as e:
        print(f"site: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
