"""The talk-room page in headless Chromium: type /help, see the bot's reply appear."""

from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
async def browser():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("Chromium must be installed in CI (.ci/run installs Debian's chromium)")
        pytest.skip("Debian's chromium is not installed here; .ci/run installs it")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        instance = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield instance
        await instance.close()


async def test_page_shows_the_reply_to_help(bot, browser):
    page = await browser.new_page()
    await page.goto(bot.url("/?room=general"))
    await page.fill("#user", "staff07")
    await page.fill("#text", "/help")
    await page.press("#text", "Enter")
    reply = page.locator(".msg.bot .text", has_text="/broadcast")
    await reply.first.wait_for(timeout=15_000)
    assert "/draft" in await reply.first.inner_text()


async def test_page_escapes_what_it_renders(bot, browser):
    await bot.say("general", "mallory", "<img src=x onerror=alert(1)><script>alert(2)</script>")
    page = await browser.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    await page.goto(bot.url("/?room=general"))
    text = page.locator(".msg .text", has_text="<script>")
    await text.first.wait_for(timeout=15_000)
    assert await page.locator(".msg .text img").count() == 0
    assert dialogs == []


async def test_an_unread_badge_and_the_title_show_a_dm_arriving_elsewhere(bot, browser):
    page = await browser.new_page()
    await page.goto(bot.url("/?room=general"))
    await page.fill("#user", "staff01")
    await page.dispatch_event("#user", "change")
    await page.locator("#rooms button", has_text="general").wait_for(timeout=15_000)
    # Someone else writes to staff01's DM room (the bot, as a broadcast would).
    from handlers.messages import Outbound

    local = bot.runtime.adapters["local"]
    await local.deliver(1, Outbound("local", "dm:staff01", "【安否確認】回答してください https://example.lg.jp/a"), None)
    badge = page.locator("#rooms button", has_text="staff01").locator(".badge")
    await badge.wait_for(timeout=15_000)
    assert await badge.inner_text() == "1"
    assert (await page.title()).startswith("(1) ")
    # Opening the room reads it: the badge goes, and the link in the notice is a real link.
    await page.locator("#rooms button", has_text="staff01").click()
    link = page.locator(".msg .text a")
    await link.wait_for(timeout=15_000)
    assert await link.get_attribute("href") == "https://example.lg.jp/a"
    assert "noopener" in await link.get_attribute("rel")
    for _ in range(150):
        if not (await page.title()).startswith("("):
            break
        await page.wait_for_timeout(100)
    assert not (await page.title()).startswith("(")


async def test_an_open_page_sees_another_persons_message_without_polling(bot, browser):
    page = await browser.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    await page.goto(bot.url("/?room=general"))
    await page.locator("#rooms button", has_text="general").wait_for(timeout=15_000)
    await page.wait_for_timeout(500)  # the page has settled
    requests.clear()
    await page.wait_for_timeout(5_000)  # idle: no timer polls the server
    assert len(requests) <= 2, requests
    await bot.say("general", "staff02", "会議は10時からです")
    await page.locator(".msg .text", has_text="会議は10時から").wait_for(timeout=5_000)


async def test_phone_and_desktop_layouts_are_usable_and_accessible(bot, browser, tmp_path):
    from axe_playwright_python.async_playwright import Axe

    await bot.say("general", "staff01", "/help")
    await bot.wait_for("general", None, lambda m: "/draft" in m["text"])
    for width, height in ((390, 844), (1280, 800)):
        context = await browser.new_context(viewport={"width": width, "height": height},
                                            bypass_csp=True)
        page = await context.new_page()
        await page.goto(bot.url("/?room=general"))
        await page.locator(".msg.bot").first.wait_for(timeout=15_000)
        await page.screenshot(path=str(tmp_path / f"talk-{width}.png"))
        # Nothing scrolls sideways; the message box is wide enough; buttons stay on one line.
        assert await page.evaluate("document.documentElement.scrollWidth") <= width
        box = await page.locator("#text").bounding_box()
        assert box["width"] >= (300 if width <= 400 else 400)
        for name in ("今ココ", "送信"):
            button = await page.get_by_role("button", name=name).bounding_box()
            assert button["height"] < 48, name  # one line
        if width <= 400:
            assert not await page.locator("#rooms").is_visible()  # the sidebar is a menu
            await page.get_by_role("button", name="メニュー").click()
            await page.locator("#rooms button").first.wait_for(state="visible", timeout=5_000)
            await page.keyboard.press("Escape")
        else:
            # Rooms are reachable by keyboard: Tab to a room, Enter opens it.
            await page.locator("#rooms button").first.focus()
            await page.keyboard.press("Enter")
        results = await Axe().run(page)
        assert results.violations_count == 0, results.generate_report()
        await context.close()
