"""JMA feed and report XML written for the tests, in the shape of JMA's published format
(jmx Control/Head and the seismology1 body of VXSE51 and VXSE53)."""

from __future__ import annotations

NS = ('xmlns="http://xml.kishou.go.jp/jmaxml1/" '
      'xmlns:jmx="http://xml.kishou.go.jp/jmaxml1/" '
      'xmlns:jmx_add="http://xml.kishou.go.jp/jmaxml1/addition1/"')


def report(kind: str = "VXSE51", *, event_id: str = "20261122141000", serial: int = 1,
           info_type: str = "発表", status: str = "通常", pref=("東京都", "13"),
           area=("東京都２３区", "350"), city=("東京品川区", "1310900"), max_int: str = "5-") -> bytes:
    title = "震度速報" if kind == "VXSE51" else "震源・震度に関する情報"
    city_xml = (f"<City><Name>{city[0]}</Name><Code>{city[1]}</Code><MaxInt>{max_int}</MaxInt>"
                "</City>") if kind == "VXSE53" and city else ""
    earthquake = ("<Earthquake><OriginTime>2026-11-22T14:10:00+09:00</OriginTime>"
                  "<ArrivalTime>2026-11-22T14:10:00+09:00</ArrivalTime><Hypocenter><Area>"
                  "<Name>東京湾</Name><Code type=\"震央地名\">350</Code></Area></Hypocenter>"
                  "<jmx_eb:Magnitude type=\"Mj\" description=\"Ｍ５．９\">5.9</jmx_eb:Magnitude>"
                  "</Earthquake>") if kind == "VXSE53" else ""
    body = "" if info_type == "取消" else (
        f"{earthquake}<Intensity><Observation><MaxInt>{max_int}</MaxInt>"
        f"<Pref><Name>{pref[0]}</Name><Code>{pref[1]}</Code><MaxInt>{max_int}</MaxInt>"
        f"<Area><Name>{area[0]}</Name><Code>{area[1]}</Code><MaxInt>{max_int}</MaxInt>{city_xml}</Area>"
        "</Pref></Observation></Intensity>")
    text = "<Text>先ほどの情報を取り消します。</Text>" if info_type == "取消" else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Report {NS}>
<Control><Title>{title}</Title><DateTime>2026-11-22T05:12:00Z</DateTime><Status>{status}</Status>
<EditorialOffice>気象庁本庁</EditorialOffice><PublishingOffice>気象庁</PublishingOffice></Control>
<Head xmlns="http://xml.kishou.go.jp/jmaxml1/informationBasis1/"><Title>{title}</Title>
<ReportDateTime>2026-11-22T14:12:00+09:00</ReportDateTime><TargetDateTime>2026-11-22T14:10:00+09:00</TargetDateTime>
<EventID>{event_id}</EventID><InfoType>{info_type}</InfoType><Serial>{serial}</Serial>
<InfoKind>{title}</InfoKind><InfoKindVersion>1.0_1</InfoKindVersion><Headline><Text/></Headline></Head>
<Body xmlns="http://xml.kishou.go.jp/jmaxml1/body/seismology1/" xmlns:jmx_eb="http://xml.kishou.go.jp/jmaxml1/elementBasis1/">{body}{text}</Body>
</Report>""".encode()


def feed(links: list[tuple[str, str]]) -> bytes:
    entries = "".join(
        f"<entry><title>{title}</title><id>urn:uuid:{i}</id><updated>2026-11-22T05:12:00Z</updated>"
        f"<author><name>気象庁</name></author><link type=\"application/xml\" href=\"{href}\"/>"
        f"<content type=\"text\">{title}</content></entry>" for i, (title, href) in enumerate(links))
    return (f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom" lang="ja">'
            f"<title>高頻度（地震火山）</title><updated>2026-11-22T05:12:00Z</updated>{entries}</feed>").encode()


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<Report><Control><Title>&lol3;</Title></Control></Report>"""
