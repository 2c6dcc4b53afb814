"""Earthquake reports from the Japan Meteorological Agency (気象庁防災情報XML): the feed, the
reports (VXSE51 震度速報, VXSE53 震源・震度に関する情報) and the rule that decides on a
safety-confirmation broadcast."""
