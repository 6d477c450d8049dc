"""Write the guides of the docs site (docs/docsite/rst/*.rst) as Markdown pages in docs/.

Galaxy and Automation Hub render the Markdown files of the collection's docs/ directory, not the
reStructuredText that antsibull-docs builds the docs site from. The .rst files stay the source;
this script writes docs/<name>.md for each of them:

    python scripts/docs_md.py            write docs/*.md
    python scripts/docs_md.py --check    exit 1 (and show a diff) when a docs/*.md is out of date

It needs docutils (the tools venv .venvs/tools has it; scripts/test.sh runs --check in the
release checks). It knows the constructs the guides use: sections, paragraphs, lists, literal
and code blocks, list-table, the contents directive, and the roles ref, ansopt, ansretval,
ansplugin and menuselection.
"""

import argparse
import difflib
import pathlib
import re
import sys

from docutils import nodes
from docutils.core import publish_doctree
from docutils.parsers.rst import Directive, directives, roles

ROOT = pathlib.Path(__file__).resolve().parent.parent
SOURCE = ROOT / "docs" / "docsite" / "rst"
TARGET = ROOT / "docs"
LABEL_PREFIX = "ansible_collections.blueking.job.docsite."
MODULE_DOCS = "https://github.com/blueking-job/blueking.job/blob/main/plugins/modules/{}.py"


class Role(nodes.Inline, nodes.TextElement):
    """An interpreted-text role the Sphinx extensions would resolve: kept with its name and text."""


def make_role(name):
    def role(_name, rawtext, text, _lineno, _inliner, options=None, content=None):
        node = Role(rawtext, text)
        node["role"] = name
        return [node], []
    return role


for _name in ("ref", "ansopt", "ansretval", "ansplugin", "menuselection"):
    roles.register_local_role(_name, make_role(_name))


class CodeBlock(Directive):
    """Sphinx's code-block: a literal block with its language."""

    required_arguments = 0
    optional_arguments = 1
    has_content = True

    def run(self):
        node = nodes.literal_block("\n".join(self.content), "\n".join(self.content))
        node["language"] = self.arguments[0] if self.arguments else ""
        return [node]


directives.register_directive("code-block", CodeBlock)


def titles(sources):
    """label -> (markdown file name, title) of every guide."""
    found = {}
    for source in sources:
        text = source.read_text(encoding="utf-8")
        label = re.search(r"^\.\. _(\S+):\s*$", text, flags=re.M)
        title = re.search(r"^(\S.*)\n=+\s*$", text, flags=re.M)
        if label and title:
            found[label.group(1)] = (source.stem + ".md", title.group(1).strip())
    return found


class Writer:
    def __init__(self, labels):
        self.labels = labels

    # ------------------------------------------------------------------ inline
    def inline(self, node):
        out = []
        for child in node.children:
            out.append(self.inline_node(child))
        return "".join(out)

    def inline_node(self, node):
        if isinstance(node, nodes.Text):
            return str(node).replace("\n", " ")
        if isinstance(node, nodes.literal):
            return code_span(" ".join(node.astext().split("\n")))
        if isinstance(node, nodes.emphasis):
            return "*" + self.inline(node) + "*"
        if isinstance(node, nodes.strong):
            return "**" + self.inline(node) + "**"
        if isinstance(node, nodes.reference):
            uri = node.get("refuri")
            if uri:
                return f"[{self.inline(node)}]({uri})"
            return self.inline(node)
        if isinstance(node, nodes.target):
            return ""
        if isinstance(node, Role):
            return self.role(node["role"], node.astext())
        if isinstance(node, (nodes.problematic, nodes.system_message)):
            raise SystemExit(f"docutils could not parse: {node.astext()}")
        return self.inline(node)

    def role(self, name, text):
        if name == "ref":
            match = re.fullmatch(r"(.*?)\s*<(.+)>", text, flags=re.S)
            caption, label = (match.group(1), match.group(2)) if match else (None, text)
            if label not in self.labels:
                raise SystemExit(f":ref: to an unknown label {label}")
            file_name, title = self.labels[label]
            return f"[{caption or title}]({file_name})"
        if name == "menuselection":
            return "**" + text.replace("-->", "→") + "**"
        if name == "ansplugin":
            plugin = text.split("#", 1)[0]
            return f"[{code_span(plugin)}]({MODULE_DOCS.format(plugin.rsplit('.', 1)[-1])})"
        # ansopt / ansretval: FQCN#module:name[=value] -> `name[=value]`
        return code_span(text.split(":", 1)[1] if "#" in text else text)

    # ------------------------------------------------------------------ blocks
    def blocks(self, node, depth):
        out = []
        for child in node.children:
            text = self.block(child, depth)
            if text is not None:
                out.append(text)
        return out

    def block(self, node, depth):
        if isinstance(node, (nodes.comment, nodes.target, nodes.substitution_definition)):
            return None
        if isinstance(node, nodes.title):
            return None
        if isinstance(node, nodes.section):
            title = self.inline(node.next_node(nodes.title))
            parts = ["#" * depth + " " + title] + self.blocks(node, depth + 1)
            return "\n\n".join(parts)
        if isinstance(node, nodes.paragraph):
            return self.inline(node)
        if isinstance(node, nodes.literal_block):
            language = {"yaml+jinja": "yaml"}.get(node.get("language", ""), node.get("language", ""))
            return f"```{language}\n{node.astext()}\n```"
        if isinstance(node, (nodes.bullet_list, nodes.enumerated_list)):
            return self.listing(node, depth)
        if isinstance(node, nodes.table):
            return self.table(node)
        if isinstance(node, nodes.topic) or isinstance(node, nodes.pending):
            return None  # the contents directive: Galaxy shows the headings itself
        if isinstance(node, nodes.block_quote):
            return "\n".join("> " + line if line else ">" for line in "\n\n".join(self.blocks(node, depth)).split("\n"))
        if isinstance(node, (nodes.note, nodes.warning, nodes.tip, nodes.important)):
            kind = type(node).__name__.capitalize()
            body = "\n\n".join(self.blocks(node, depth))
            return "\n".join("> " + line if line else ">" for line in f"**{kind}:** {body}".split("\n"))
        if isinstance(node, nodes.definition_list):
            items = []
            for item in node.children:
                term = self.inline(item.next_node(nodes.term))
                body = "\n\n".join(self.blocks(item.next_node(nodes.definition), depth))
                items.append(f"**{term}**\n\n{body}")
            return "\n\n".join(items)
        if isinstance(node, nodes.system_message):
            raise SystemExit(f"docutils: {node.astext()}")
        raise SystemExit(f"no Markdown for {type(node).__name__}: {node.astext()[:80]!r}")

    def listing(self, node, depth):
        ordered = isinstance(node, nodes.enumerated_list)
        lines = []
        for index, item in enumerate(node.children, start=1):
            marker = f"{index}. " if ordered else "- "
            body = "\n\n".join(self.blocks(item, depth))
            indent = " " * len(marker)
            first, *rest = body.split("\n")
            lines.append(marker + first + "".join("\n" + (indent + line if line else "") for line in rest))
        loose = any(len(item.children) > 1 for item in node.children)
        return ("\n\n" if loose else "\n").join(lines)

    def table(self, node):
        rows = []
        for row in node.findall(nodes.row):
            cells = []
            for entry in row.children:
                text = " ".join(self.blocks(entry, 0)).replace("\n", " ").replace("|", "\\|")
                cells.append(text)
            rows.append(cells)
        if not rows:
            return ""
        header = rows[0] if node.next_node(nodes.thead) else [""] * len(rows[0])
        body = rows[1:] if node.next_node(nodes.thead) else rows
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in body]
        return "\n".join(lines)


def code_span(text):
    fence = "``" if "`" in text else "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def convert(source, labels):
    settings = {"report_level": 2, "halt_level": 3, "file_insertion_enabled": False, "raw_enabled": False}
    doctree = publish_doctree(source.read_text(encoding="utf-8"), source_path=str(source), settings_overrides=settings)
    writer = Writer(labels)
    title = doctree.next_node(nodes.title)
    body = writer.blocks(doctree, 2)
    header = (f"<!-- Generated from docs/docsite/rst/{source.name} by scripts/docs_md.py (in the source repository); "
              "edit the .rst file, not this one. -->")
    text = "\n\n".join([header, "# " + writer.inline(title)] + [part for part in body if part])
    return re.sub(r"\n{3,}", "\n\n", text).rstrip() + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing; exit 1 when out of date")
    args = parser.parse_args()
    sources = sorted(SOURCE.glob("*.rst"))
    labels = titles(sources)
    stale = 0
    for source in sources:
        target = TARGET / (source.stem + ".md")
        text = convert(source, labels)
        current = target.read_text(encoding="utf-8") if target.exists() else ""
        if current == text:
            continue
        if args.check:
            stale += 1
            sys.stdout.writelines(difflib.unified_diff(current.splitlines(True), text.splitlines(True),
                                                       str(target.relative_to(ROOT)), "generated", n=1))
        else:
            target.write_text(text, encoding="utf-8")
            print(f"wrote {target.relative_to(ROOT)}")
    if stale:
        print(f"{stale} guide(s) in docs/ are out of date: run python scripts/docs_md.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
