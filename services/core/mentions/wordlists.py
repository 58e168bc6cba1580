"""Small hand-written word lists shared by normalisation, language guessing, relevance and geoparsing.

Kept in one module so a reviewer who speaks Bahasa Indonesia or Tetum can check and extend them in one place.
They are deliberately short: each list exists for one job, and a long list mostly adds false positives.
"""

from __future__ import annotations

# Everyday Indonesian words, typed the way people tweet. Used to split hashtags (#drainaseburuk) and as a
# stoplist against village names that are also ordinary words (Baru, Indah, Hujan...).
COMMON_ID: frozenset[str] = frozenset("""
ada adalah agar air akan akibat aku alam aman amp anak antara apa apakah area arus atas atau awas ayo
bagi bagian baik banget bantu bantuan banyak baru basah batas bawah beberapa belakang belum benar berat
besar betis bisa bocor buat bukan buruk butuh cari cepat cuaca cukup daerah dalam dan dapat dari darurat
datang dekat deras depan dengan di dia dingin dini dong dua duka ekstrem ekstrim evakuasi gak ganti
genang gila got habis hadir hampir hanya hari harus hati hilang hingga hujan hari ini info itu jadi jalan
jam jangan jauh jembatan juga kali kalian kami kamu kanan karena kasih kata ke kebun kecil kemarin kena
kenapa kering ketinggian kini kiri kiriman kita kok korban kota kuat kurang lagi lah lalu lama lambat lantai
langsung lebih lewat lihat lokasi luar lumpur lutut maaf macet mala malam mampu mana mandi mari masih masuk
mati mau meluap meninggal menuju meter minta mobil mohon motor mulai musim naik nasional nih no nya
orang pada pagi paha pak panas parah pasar pasti pasukan peduli penuh per perhatian perhatiannya perlu
pinggang posko pray pukul pulang pusat putus rawan rendah ribuan ruas rumah rusak saat saja sakit salah
saluran sama sampah sampai sangat satu saya sedang sedengkul sehat sejak sekali sekarang sekitar sekolah
selamat semua sendiri sepanjang seperti setinggi siaga siang sore sudah sungai surut tahun tak tanah tanpa
tanggul tapi tengah terendam tergenang terjadi terkini terus tetap tiba tidak tiga tinggal tinggi titik
tolong total tua turun uang untuk update utama waspada wilayah ya yang
drainase pompa pasang laut pintu lampu merah kolong ujung pinggir rob
bencana selokan kanal waduk bendungan jebol longsoran gempa banjir aliran
""".split())

# Abbreviations as people type them on phones. Values may be several words.
ABBREVIATIONS: dict[str, str] = {
    "jl": "jalan", "jln": "jalan", "jal": "jalan", "gg": "gang",
    "kec": "kecamatan", "kab": "kabupaten", "kel": "kelurahan", "kelr": "kelurahan", "ds": "desa",
    "prov": "provinsi", "prop": "provinsi", "kp": "kampung", "kmp": "kampung", "dsn": "dusun",
    "gn": "gunung", "gng": "gunung", "gn2": "gunung", "perum": "perumahan", "komp": "komplek",
    # titles inside street names ("Jl. Jend. Sudirman"): expanded, their dot does not end the street's name
    "jend": "jenderal", "letjen": "letnan jenderal", "mayjen": "mayor jenderal", "brigjen": "brigadir jenderal",
    "kompleks": "komplek", "kpg": "kampung",
    "dll": "dan lain lain", "dsb": "dan sebagainya", "yg": "yang", "dgn": "dengan", "tdk": "tidak",
    "gk": "tidak", "ga": "tidak", "gak": "tidak", "nggak": "tidak", "ngga": "tidak", "enggak": "tidak",
    "sdh": "sudah", "udh": "sudah", "udah": "sudah", "blm": "belum", "utk": "untuk", "krn": "karena",
    "karna": "karena", "bgt": "banget", "org": "orang", "sy": "saya", "tlg": "tolong", "tlng": "tolong",
    "lg": "lagi", "lgsg": "langsung", "sm": "sama", "jg": "juga", "dr": "dari", "pd": "pada",
    "bbrp": "beberapa", "skrg": "sekarang", "skr": "sekarang", "sampe": "sampai", "smp": "sampai",
    "tp": "tapi", "kalo": "kalau", "klo": "kalau", "kl": "kalau", "dpn": "depan", "blkg": "belakang",
    "jkt": "jakarta", "jakbar": "jakarta barat", "jaksel": "jakarta selatan", "jaktim": "jakarta timur",
    "jakut": "jakarta utara", "jakpus": "jakarta pusat", "jabar": "jawa barat", "jateng": "jawa tengah",
    "jatim": "jawa timur", "jogja": "yogyakarta", "jogjakarta": "yogyakarta", "diy": "yogyakarta",
    "sumut": "sumatera utara", "sumbar": "sumatera barat", "sumsel": "sumatera selatan",
    "sulsel": "sulawesi selatan", "sulteng": "sulawesi tengah", "sulut": "sulawesi utara",
    "kalsel": "kalimantan selatan", "kaltim": "kalimantan timur", "kalbar": "kalimantan barat",
    "ntt": "nusa tenggara timur", "ntb": "nusa tenggara barat", "malut": "maluku utara",
    "jabodetabek": "jakarta bogor depok tangerang bekasi",
    # Tetum: munisípiu (municipality), postu administrativu (post)
    "mun": "munisipiu",
}

# Language guessing: frequent function words only (content words would vote for the topic, not the language).
STOPWORDS: dict[str, frozenset[str]] = {
    "id": frozenset("""yang di dan ke dari ini itu tidak sudah ada untuk dengan akan juga karena sampai
        masih saya kami kita mereka pada sedang belum bisa jadi atau lagi dalam oleh telah agar para nya
        banget aja dong sih kok deh tolong mohon setinggi hingga""".split()),
    "en": frozenset("""the and of in is on at to for with was are has have been this that from by it its
        were will be an as after near our we they there people please still""".split()),
    "tet": frozenset("""iha no ne'e nia sira ba husi hosi maka mak ida hanesan tanba atu ema loron agora
        ita ami hau bele tiha ona sei ne'ebe nebe neebe neʼe tamba mos mós hotu ho hodi liu barak sai
        tenke halo hetan la'o uma suku postu munisipiu""".split()),
}

# Relevance cues: impact and need in a current event, versus chatter around the topic.
IMPACT_CUES: frozenset[str] = frozenset("""korban tewas meninggal luka hilang mengungsi pengungsi pengungsian
    evakuasi dievakuasi terendam tergenang terjebak rusak roboh ambruk hanyut terputus putus lumpuh
    mengalami melanda dilanda menerjang menimbun tertimbun terdampak dampak warga rumah posko bantuan butuh
    membutuhkan tolong darurat siaga awas waspada status sedengkul sepinggang selutut sepaha sedada
    setinggi ketinggian cm meter surut meluap jebol terkini saat hari pagi siang sore malam dini
    affected evacuated dead injured missing damaged trapped help emergency
    vitima evakuasaun ajuda estragu""".split())

CHATTER_CUES: frozenset[str] = frozenset("""wkwk wkwkwk haha hahaha hehe anjir anjay lol meme mimpi
    film lagu puisi novel game podcast sejarah legenda mitos dongeng pendakian mendaki pendaki camping
    pilkada pilpres capres cawapres partai kampanye dpr politik presiden menteri prabowo jokowi gibran
    tips cara belajar tugas kuliah skripsi promo diskon giveaway jual beli endorse
    joke movie song history""".split())
