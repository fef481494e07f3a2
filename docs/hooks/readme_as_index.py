"""MkDocs hook: the README is the site's home page, so its first screen is written once.

Links written for GitHub are rewritten for the site: ``docs/x.md`` from the README,
``../README.md`` and ``../results/`` from a docs page; the plots under ``results/`` are
published with the site.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.structure.files import File, Files


def on_files(files: Files, config) -> Files:
    readme = Path(config["config_file_path"]).parent / "README.md"
    files.append(File.generated(config, "index.md", content=readme.read_text()))
    for plot in sorted((readme.parent / "results").rglob("*.png")):
        files.append(File.generated(config, plot.relative_to(readme.parent).as_posix(), abs_src_path=str(plot)))
    return files


def on_page_markdown(markdown: str, page, config, files) -> str:
    if page.file.src_uri == "index.md":
        return markdown.replace("](docs/", "](")
    return markdown.replace("](../README.md", "](index.md").replace("](../results/", "](results/")
