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
