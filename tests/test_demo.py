"""`chonai demo`: sample data that makes every feature answer, in a folder of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bot.config import Settings


def test_demo_refuses_a_non_empty_folder(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "keep.txt").write_text("大事なファイル")
    env = {**os.environ}
    env.pop("DATABASE_URL", None)
    result = subprocess.run([sys.executable, "-m", "bot.cli", "demo", "--dir", str(folder)], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "--reset" in result.stderr
    assert (folder / "keep.txt").read_text() == "大事なファイル"


async def test_sample_data_makes_every_feature_answer(tmp_path, start_bot):
    from bot.demo import load, prepare

    folder = tmp_path / "demo"
    assert prepare(folder, reset=False) is None
    await load(Settings(data_dir=str(folder)))
    bot = await start_bot(data_dir=str(folder))
    for text, user, expected in [
            ("/status 転入届", "staff01", "転入届: オンラインではできません"),
            ("/status R7-000123", "staff01", "審査中"),
            ("/kpi weekly", "staff01", "オンライン手続数"),
            ("/ask 生成AIに住民の名前を入れてもいい？", "staff01", "生成AI利用ガイドライン"),
            ("/broadcast 安否 【訓練】地震が発生しました。", "bousai01", "送信前の確認")]:
        await bot.say("general", user, text)
        await bot.wait_for("general", user, lambda m, e=expected: e in m["text"], timeout=30)
    assert not Path(folder / "keep.txt").exists()
