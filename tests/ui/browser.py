#!/usr/bin/env python3
"""snap ui in a real browser: Playwright for Python driving Debian's Chromium.

Usage: browser.py URL FIRST_ID SECOND_ID PROFILE_DIR SNAP_BIN SHOTS_DIR
(SNAP_REPO set; run by tests/ui/browser.rs, which prepared the repository).
Exits non-zero, naming the step, when anything the page should do fails.
"""
import json
import os
import subprocess
import sys
import time
from urllib.parse import urlsplit

from playwright.sync_api import expect, sync_playwright

URL, FIRST, SECOND, APP, SNAP, SHOTS = sys.argv[1:7]
BASE = "{0.scheme}://{0.netloc}".format(urlsplit(URL))
os.makedirs(SHOTS, exist_ok=True)
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def step(name):
    print(f"step: {name}", flush=True)


def snap(*args):
    out = subprocess.run([SNAP, *args], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        sys.exit(f"snap {' '.join(args)} failed: {out.stderr}")
    return out.stdout


def listed():
    return json.loads(snap("--json", "list"))


def snap_name(sid):
    return next(s["name"] for s in listed() if s["id"] == sid)


def tags(sid):
    return next(s["tags"] for s in listed() if s["id"] == sid)


def shot(page, name):
    page.screenshot(path=os.path.join(SHOTS, name), full_page=name.startswith("narrow"))


def main():
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=os.environ.get("SNAP_CHROMIUM", "/usr/bin/chromium"), args=ARGS)
        ctx = browser.new_context(viewport={"width": 1280, "height": 860}, accept_downloads=True)
        page = ctx.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))

        step("a check recorded before the page opens is shown")
        snap("check")

        step("refused without the token")
        r = page.goto(BASE + "/")
        assert r.status == 401, r.status
        assert "one-time token" in page.content()

        step("open with the token")
        r = page.goto(URL)
        assert r.ok, r.status
        assert page.url == BASE + "/", page.url
        rows = page.locator("#timeline tbody tr")
        expect(rows).to_have_count(2)
        step("list snapshots, newest first")
        assert rows.nth(0).get_attribute("data-id") == SECOND
        assert rows.nth(1).get_attribute("data-id") == FIRST
        expect(page.locator("#profiles")).to_contain_text("app")
        expect(page.locator("#profile-status")).to_contain_text("dedup")
        expect(page.locator("#profile-status")).to_contain_text("Last check")
        expect(page.locator("#profile-status")).to_contain_text("structure only, without --read-data: no problems")

        step("pin a snapshot: the keep tag shows, and the CLI sees it")
        first_tags = page.locator(f'#timeline tr[data-id="{FIRST}"] .tag-keep')
        page.get_by_role("button", name=f"Pin {snap_name(FIRST)}", exact=True).click()
        expect(first_tags).to_have_count(1)
        assert "keep" in tags(FIRST), tags(FIRST)
        out = subprocess.run([SNAP, "forget", FIRST], capture_output=True, text=True, check=False)
        assert out.returncode == 1 and "pinned" in out.stderr, out
        shot(page, "timeline.png")
        step("unpin it")
        page.get_by_role("button", name=f"Unpin {snap_name(FIRST)}", exact=True).click()
        expect(first_tags).to_have_count(0)
        assert "keep" not in tags(FIRST), tags(FIRST)

        step("every control has a name (accessibility)")
        unnamed = page.evaluate("""() => [...document.querySelectorAll('button, input, select, textarea, a[href]')]
            .filter(e => !(e.getAttribute('aria-label') || e.textContent.trim() || (e.labels && e.labels.length)))
            .map(e => e.outerHTML)""")
        assert not unnamed, unnamed
        step("keyboard: arrow keys move between the views")
        page.locator("#tab-timeline").focus()
        page.keyboard.press("ArrowRight")
        expect(page.locator("#tab-browse")).to_be_focused()
        expect(page.locator("#view-browse")).to_be_visible()
        page.keyboard.press("ArrowLeft")
        expect(page.locator("#view-timeline")).to_be_visible()

        step("browse and preview a JSON file")
        page.get_by_role("button", name="Browse", exact=False).first.click()
        expect(page.locator("#view-browse")).to_be_visible()
        page.locator("#entries button", has_text="settings.json").click()
        pre = page.locator("#preview pre.json")
        expect(pre).to_contain_text('"theme": "light"')
        assert '\n  "font": {\n    "size": 14' in pre.inner_text(), pre.inner_text()
        step("every version of one file")
        page.get_by_role("button", name="Every version of this file").click()
        versions = page.locator("table.versions tbody tr")
        expect(versions).to_have_count(2)
        expect(versions.nth(0)).to_contain_text("changed")
        step("preview an image")
        page.locator("#entries button", has_text="img/").click()
        page.locator("#entries button", has_text="photo.png").click()
        img = page.locator("#preview img")
        expect(img).to_be_visible()
        page.wait_for_function("() => document.querySelector('#preview img').naturalWidth === 8")
        shot(page, "browser.png")
        step("download one file")
        page.locator("#crumbs button", has_text="All files").click()
        page.locator("#entries button", has_text="notes.txt").click()
        with page.expect_download() as dl:
            page.get_by_role("link", name="Download").click()
        with open(dl.value.path(), "rb") as f:
            assert f.read() == b"one\ntwo\nthree\nfour\n"

        step("diff two snapshots")
        page.locator("#tab-diff").click()
        page.select_option("#diff-a", FIRST)
        page.select_option("#diff-b", SECOND)
        page.get_by_role("button", name="Compare").click()
        changes = page.locator("#diff-list li")
        expect(changes).to_have_count(3)
        expect(page.locator("#diff-list li.added")).to_contain_text("new.txt")
        expect(page.locator("#diff-list li.modified")).to_have_count(2)
        page.locator("#diff-list button", has_text="notes.txt").click()
        expect(page.locator("#diff-text .line.added")).to_have_text("+ four")
        shot(page, "diff.png")
        step("diff against the live folder")
        page.select_option("#diff-a", SECOND)
        page.select_option("#diff-b", "live")
        page.get_by_role("button", name="Compare").click()
        expect(page.locator("#diff-list li.added")).to_contain_text("junk.txt")

        step("restore the first snapshot in place through the dialog")
        page.locator("#tab-timeline").click()
        first_row = page.locator(f'#timeline tr[data-id="{FIRST}"]')
        first_row.get_by_role("button", name="Restore").click()
        dialog = page.locator("#restore-dialog")
        expect(dialog).to_be_visible()
        expect(page.locator("#restore-go")).to_be_disabled()
        step("a refused restore shows one clear message")
        page.check('input[name=where][value=folder]')
        page.fill("#restore-target", os.path.dirname(APP))
        page.get_by_role("button", name="Preview changes").click()
        page.locator("#restore-go").click()
        expect(page.locator("#restore-error")).to_contain_text("not an empty directory")
        expect(page.locator("#restore-error")).to_contain_text("was not changed")
        expect(page.locator("#restore-anyway")).to_be_hidden()
        page.check('input[name=where][value=inplace]')
        expect(page.locator("#restore-go")).to_be_disabled()
        step("preview, confirm, restore")
        page.get_by_role("button", name="Preview changes").click()
        plan = page.locator("#restore-plan li")
        expect(page.locator("#restore-plan")).to_contain_text("junk.txt")
        expect(page.locator("#restore-plan li.removed", has_text="new.txt")).to_have_count(1)
        expect(page.locator("#restore-confirm")).to_contain_text("pre-restore")
        assert plan.count() >= 4, plan.count()
        # Nothing was touched by the preview.
        with open(os.path.join(APP, "settings.json")) as f:
            assert f.read() == "{broken"
        shot(page, "restore-dialog.png")
        step("another program has a profile file open: refused, then restore anyway")
        holder = subprocess.Popen(
            [sys.executable, "-c", "import sys, time; f = open(sys.argv[1], 'rb'); print('open', flush=True); time.sleep(600)",
             os.path.join(APP, "notes.txt")], stdout=subprocess.PIPE, text=True)
        try:
            assert holder.stdout.readline().strip() == "open"
            page.locator("#restore-go").click()
            err = page.locator("#restore-error")
            expect(err).to_contain_text(f"notes.txt is open in pid {holder.pid} (python", timeout=30000)
            expect(err).to_contain_text("restore anyway")
            expect(page.locator("#restore-anyway")).to_be_visible()
            with open(os.path.join(APP, "settings.json")) as f:
                assert f.read() == "{broken", "the refused restore changed the profile"
            shot(page, "restore-in-use.png")
            page.get_by_role("button", name="Restore anyway").click()
            result = page.locator("#restore-result")
            expect(result).to_contain_text("Undo point: pre-restore-", timeout=30000)
            expect(result.locator(".warning")).to_contain_text(str(holder.pid))
        finally:
            holder.kill()
            holder.wait()
        step("the progress ran to 100% of the snapshot's files")
        expect(page.locator("#restore-progress-text")).to_contain_text("3 of 3 files")
        expect(page.locator("#restore-progress-text")).to_contain_text("(100%)")
        assert page.evaluate("() => document.querySelector('#restore-progress').value") == 100
        undo_text = result.inner_text()
        with open(os.path.join(APP, "settings.json")) as f:
            assert f.read() == '{"theme":"dark","font":{"size":12,"family":"serif"}}'
        assert not os.path.exists(os.path.join(APP, "junk.txt"))
        listed = json.loads(snap("--json", "list"))
        pre = [s for s in listed if "pre-restore" in s["tags"]]
        assert len(pre) == 1, listed
        assert pre[0]["name"] in undo_text, (undo_text, pre[0]["name"])
        shot(page, "restore-done.png")
        page.locator("#restore-cancel").click()
        expect(rows).to_have_count(3)
        expect(page.locator("#timeline .tag-pre-restore")).to_have_count(1)

        step("settings: change the interval")
        page.get_by_role("button", name="Settings…").click()
        expect(page.locator("#settings-dialog")).to_be_visible()
        page.select_option("#set-interval", "2h")
        page.fill("#set-count", "40")
        page.select_option("#set-age", "60d")
        shot(page, "settings.png")
        page.get_by_role("button", name="Save").click()
        expect(page.locator("#settings-dialog")).to_be_hidden()
        shown = json.loads(snap("--json", "profile", "show", "app"))
        assert shown["interval"] == "2h", shown
        assert shown["retention"]["max_count"] == 40, shown
        assert shown["retention"]["max_age"] == "60d", shown
        expect(page.locator("#profile-status")).to_contain_text("every 2h")

        step("a snapshot by `snap create` in another process appears without a reload")
        page.evaluate("() => { window.__sameDocument = true; }")
        with open(os.path.join(APP, "later.txt"), "w") as f:
            f.write("from another process\n")
        new_id = snap("create", "--profile", "app").strip()
        expect(page.locator(f'#timeline tr[data-id="{new_id}"]')).to_have_count(1, timeout=15000)
        assert page.evaluate("() => window.__sameDocument === true"), "the page was reloaded"

        step("create a snapshot from the page")
        with open(os.path.join(APP, "later.txt"), "a") as f:
            f.write("more\n")
        page.get_by_role("button", name="Create snapshot now").click()
        expect(rows).to_have_count(5)

        step("export a ZIP (download) and import it (upload)")
        with page.expect_download() as dl:
            page.locator(f'#timeline tr[data-id="{SECOND}"]').get_by_role("link", name="ZIP").click()
        zip_path = dl.value.path()
        with open(zip_path, "rb") as f:
            assert f.read(2) == b"PK"
        page.set_input_files("#import-file", files=[{"name": "second.zip", "mimeType": "application/zip", "buffer": open(zip_path, "rb").read()}])
        expect(rows).to_have_count(6)
        expect(page.locator("#timeline .tag-import")).to_have_count(1)

        step("readable at 320 px")
        page.set_viewport_size({"width": 320, "height": 700})
        page.reload()
        expect(rows).to_have_count(6)
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 320, f"the page is {width} px wide at 320 px"
        shot(page, "narrow-320.png")

        assert not errors, errors
        browser.close()
    print("browser.py: all steps passed", flush=True)


if __name__ == "__main__":
    main()
