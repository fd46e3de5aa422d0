"""Print how long a report page is on screen and on paper: its height at desktop and phone width, the height of
its summary, and the number of A4 pages of its full and brief prints (Debian's Chromium, headless).

    .venv/bin/python bench/report_pages.py http://127.0.0.1:8000/r/ai-distress/report/ [more report URLs]

The server must be running (e.g. `make run`) and the report readable without signing in.
"""

import re
import sys

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
PAGE_OBJECT = re.compile(rb"/Type\s*/Page(?!s)")


def pdf_pages(pdf: bytes) -> int:
    """The number of pages of a PDF: its page objects (`/Type /Page`, not the `/Pages` tree)."""
    return len(PAGE_OBJECT.findall(pdf))


def measure(browser, url: str) -> dict:
    figures = {}
    for name, width in (("desktop", 1100), ("phone", 375)):
        context = browser.new_context(viewport={"width": width, "height": 900})
        page = context.new_page()
        page.goto(url)
        figures[f"{name} px"] = page.evaluate("document.documentElement.scrollHeight")
        summary = page.locator("#summary")
        figures[f"{name} summary px"] = round(summary.bounding_box()["height"]) if summary.count() else None
        context.close()
    context = browser.new_context()
    page = context.new_page()
    for name, suffix in (("full print", ""), ("brief print", "layout=brief")):
        target = url if not suffix else url + ("&" if "?" in url else "?") + suffix
        page.goto(target)
        page.emulate_media(media="print")
        figures[f"{name} A4 pages"] = pdf_pages(page.pdf(format="A4"))
    context.close()
    return figures


def main(urls: list[str]) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for url in urls:
            figures = measure(browser, url)
            print(url)
            for key, value in figures.items():
                print(f"  {key:>22}: {value}")
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1:] or ["http://127.0.0.1:8000/r/ai-distress/report/"])
