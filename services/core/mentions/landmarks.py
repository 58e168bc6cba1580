"""Well-known places that are not admin units: volcanoes and city landmarks, with the regencies they sit in.

A post says "Semeru erupsi lagi", never "Kabupaten Lumajang"; "banjir di Kalimalang", never "Duren Sawit".
For a volcano the first regency listed is where most of the people exposed live (or where the observatory
is), used when nothing else in the post tells them apart; city landmarks have no such default.
Names are matched like admin names (lower case, single spaces); regencies are looked up in the gazetteer
by province name and full regency name, so codes are never hard-coded here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Landmark:
    names: tuple[str, ...]
    province: str
    regencies: tuple[str, ...]
    needs_cue: bool = False  # name is an ordinary word or a person's name: only after "gunung"
    # Volcanoes: the first regency is the default. City landmarks straddling regencies (a canal, a toll road)
    # have none: without a co-mention they are answered at the level their regencies share, or not at all.
    main_first: bool = True


VOLCANOES: tuple[Landmark, ...] = (
    Landmark(("merapi",), "daerah istimewa yogyakarta", ("kabupaten sleman",)),
    Landmark(("merapi",), "jawa tengah", ("kabupaten magelang", "kabupaten klaten", "kabupaten boyolali")),
    Landmark(("marapi",), "sumatera barat", ("kabupaten agam", "kabupaten tanah datar")),
    Landmark(("sinabung",), "sumatera utara", ("kabupaten karo",)),
    Landmark(("agung",), "bali", ("kabupaten karangasem",), needs_cue=True),
    Landmark(("batur",), "bali", ("kabupaten bangli",), needs_cue=True),
    Landmark(("semeru",), "jawa timur", ("kabupaten lumajang", "kabupaten malang")),
    Landmark(("kelud", "kelut"), "jawa timur", ("kabupaten kediri", "kabupaten blitar", "kabupaten malang")),
    Landmark(("bromo",), "jawa timur",
             ("kabupaten probolinggo", "kabupaten pasuruan", "kabupaten malang", "kabupaten lumajang")),
    Landmark(("raung",), "jawa timur", ("kabupaten banyuwangi", "kabupaten bondowoso", "kabupaten jember")),
    Landmark(("ijen", "kawah ijen"), "jawa timur", ("kabupaten banyuwangi", "kabupaten bondowoso")),
    Landmark(("lawu",), "jawa tengah", ("kabupaten karanganyar",), needs_cue=True),
    Landmark(("merbabu",), "jawa tengah", ("kabupaten boyolali", "kabupaten magelang", "kabupaten semarang")),
    Landmark(("sindoro", "sundoro"), "jawa tengah", ("kabupaten temanggung", "kabupaten wonosobo")),
    Landmark(("sumbing",), "jawa tengah",
             ("kabupaten temanggung", "kabupaten wonosobo", "kabupaten magelang"),
             needs_cue=True),
    Landmark(("slamet",), "jawa tengah",
             ("kabupaten purbalingga", "kabupaten banyumas", "kabupaten tegal", "kabupaten brebes",
              "kabupaten pemalang"), needs_cue=True),
    Landmark(("dieng",), "jawa tengah", ("kabupaten banjarnegara", "kabupaten wonosobo")),
    Landmark(("tangkuban parahu", "tangkuban perahu"), "jawa barat",
             ("kabupaten bandung barat", "kabupaten subang")),
    Landmark(("papandayan",), "jawa barat", ("kabupaten garut",)),
    Landmark(("ciremai", "ceremai"), "jawa barat", ("kabupaten kuningan", "kabupaten majalengka")),
    Landmark(("gede", "gede pangrango", "pangrango"), "jawa barat",
             ("kabupaten cianjur", "kabupaten sukabumi", "kabupaten bogor"), needs_cue=True),
    Landmark(("salak",), "jawa barat", ("kabupaten bogor", "kabupaten sukabumi"), needs_cue=True),
    Landmark(("anak krakatau", "krakatau"), "lampung", ("kabupaten lampung selatan",)),
    Landmark(("dempo",), "sumatera selatan", ("kota pagar alam",)),
    Landmark(("kerinci",), "jambi", ("kabupaten kerinci",)),
    Landmark(("seulawah", "seulawah agam"), "aceh", ("kabupaten aceh besar",)),
    Landmark(("rinjani",), "nusa tenggara barat",
             ("kabupaten lombok timur", "kabupaten lombok utara", "kabupaten lombok tengah")),
    Landmark(("tambora",), "nusa tenggara barat", ("kabupaten dompu", "kabupaten bima")),
    Landmark(("lewotobi", "lewotobi laki laki", "lewotobi perempuan"), "nusa tenggara timur",
             ("kabupaten flores timur",)),
    Landmark(("ile lewotolok", "lewotolok"), "nusa tenggara timur", ("kabupaten lembata",)),
    Landmark(("inielika", "inerie"), "nusa tenggara timur", ("kabupaten ngada",)),
    Landmark(("egon",), "nusa tenggara timur", ("kabupaten sikka",), needs_cue=True),
    Landmark(("dukono",), "maluku utara", ("kabupaten halmahera utara",)),
    Landmark(("ibu",), "maluku utara", ("kabupaten halmahera barat",), needs_cue=True),
    Landmark(("gamalama",), "maluku utara", ("kota ternate",)),
    Landmark(("banda api",), "maluku", ("kabupaten maluku tengah",)),
    Landmark(("karangetang",), "sulawesi utara", ("kabupaten kepulauan siau tagulandang biaro",)),
    Landmark(("ruang",), "sulawesi utara", ("kabupaten kepulauan siau tagulandang biaro",), needs_cue=True),
    Landmark(("lokon",), "sulawesi utara", ("kota tomohon",)),
    Landmark(("soputan",), "sulawesi utara", ("kabupaten minahasa selatan", "kabupaten minahasa tenggara")),
    Landmark(("awu",), "sulawesi utara", ("kabupaten kepulauan sangihe",), needs_cue=True),
)


# Greater Jakarta places that posts name but the gazetteer does not (or names differently), from public maps.
# Only names that are not also a street named after a person (Sudirman, Thamrin: every city has one) and not
# already an admin unit of the same area. Each entry lists every regency the place spans; the province is
# looked up by its full gazetteer name. Extending: add places a volunteer can confirm on a map.
_DKI = "daerah khusus ibukota jakarta"
CITY_LANDMARKS: tuple[Landmark, ...] = (
    # Kalimalang canal and its road: Duren Sawit (Jakarta Timur) into Bekasi
    Landmark(("kalimalang", "kali malang"), _DKI, ("kota administrasi jakarta timur",), main_first=False),
    Landmark(("kalimalang", "kali malang"), "jawa barat", ("kota bekasi",), main_first=False),
    Landmark(("monas", "monumen nasional"), _DKI, ("kota administrasi jakarta pusat",), main_first=False),
    Landmark(("bundaran hi", "bundaran hotel indonesia"), _DKI, ("kota administrasi jakarta pusat",),
             main_first=False),
    Landmark(("gelora bung karno",), _DKI, ("kota administrasi jakarta pusat",), main_first=False),
    Landmark(("pondok indah",), _DKI, ("kota administrasi jakarta selatan",), main_first=False),
    Landmark(("pantai indah kapuk",), _DKI, ("kota administrasi jakarta utara",), main_first=False),
    Landmark(("muara karang",), _DKI, ("kota administrasi jakarta utara",), main_first=False),
    Landmark(("sunter",), _DKI, ("kota administrasi jakarta utara",), main_first=False),
    Landmark(("pulomas", "pulo mas"), _DKI, ("kota administrasi jakarta timur",), main_first=False),
    Landmark(("halim perdanakusuma",), _DKI, ("kota administrasi jakarta timur",), main_first=False),
    # Harapan Indah estate: Medan Satria (Kota Bekasi) and Tarumajaya (Kabupaten Bekasi)
    Landmark(("harapan indah",), "jawa barat", ("kota bekasi", "kabupaten bekasi"), main_first=False),
)
