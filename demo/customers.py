"""Who the demo's customers are and the credits they were given, as plain data for `seed_demo`.

Customer addresses use reserved `.example` domains so that no invoice email of the demo ever reaches a
real inbox. The VAT numbers are made up but pass python-stdnum's offline check, like real ones would.
"""
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class CustomerSeed:
    email: str
    full_name: str
    company_name: str
    address_line1: str
    postal_code: str
    city: str
    country: str
    phone: str
    plan_code: str
    vat_number: str = ""
    address_line2: str = ""
    billing_email: str = ""
    # A past month (1 = last month, 2 = the month before) in which the customer used more than the quota.
    over_quota_months_ago: int | None = None
    # The day of the month before the demo's history on which the customer subscribed: the first invoice pays that
    # month's fee pro rata. None: the subscription is older, and its history starts with a whole period.
    subscribed_on_day: int | None = None
    # Past months whose invoice the customer has not paid; 3 or more, so that it is past due whatever the day.
    unpaid_months_ago: tuple[int, ...] = ()
    # A smaller plan chosen this period: a downgrade, waiting for the period's end.
    downgrade_to_plan_code: str = ""
    # Subscribed this many days ago, with the plan's free trial (its `trial_days`): a customer in a trial.
    trial_started_days_ago: int | None = None


@dataclass(frozen=True)
class CreditSeed:
    email: str
    months_ago: int  # granted in that month, so that the next invoice run applies it; at least 1
    type: str
    amount: Decimal
    reason: str


DEMO_CUSTOMER = CustomerSeed(
    email="demo@twinmcp.dev",
    full_name="Camille Laurent",
    company_name="Atelier Numérique SAS",
    vat_number="FR72823456785",
    address_line1="18 quai Saint-Antoine",
    address_line2="Bâtiment B, 3e étage",
    postal_code="69002",
    city="Lyon",
    country="FR",
    phone="+33 4 78 12 34 56",
    plan_code="pro",
    billing_email="compta@atelier-numerique.example",
    over_quota_months_ago=1,
    subscribed_on_day=14,
)

CUSTOMERS = (
    # France
    CustomerSeed(
        email="julien.moreau@moreau-conseil.example",
        full_name="Julien Moreau",
        company_name="Moreau Conseil SARL",
        vat_number="FR75512345679",
        address_line1="42 rue Oberkampf",
        postal_code="75011",
        city="Paris",
        country="FR",
        phone="+33 1 43 55 21 08",
        plan_code="team",
        billing_email="factures@moreau-conseil.example",
    ),
    CustomerSeed(
        email="sophie.bernard@kodama-labs.example",
        full_name="Sophie Bernard",
        company_name="Kodama Labs SAS",
        vat_number="FR69798765434",
        address_line1="5 allée Duguay-Trouin",
        postal_code="44000",
        city="Nantes",
        country="FR",
        phone="+33 2 40 48 17 90",
        plan_code="pro",
        billing_email="compta@kodama-labs.example",
        over_quota_months_ago=2,
    ),
    CustomerSeed(
        email="elodie.martin@lumen-analytics.example",
        full_name="Élodie Martin",
        company_name="Lumen Analytics SAS",
        vat_number="FR35434567897",
        address_line1="27 rue Esquermoise",
        postal_code="59800",
        city="Lille",
        country="FR",
        phone="+33 3 20 57 64 12",
        plan_code="pro",
    ),
    CustomerSeed(
        email="thomas.petit@laposte.example",
        full_name="Thomas Petit",
        company_name="",
        address_line1="9 cours de l'Intendance",
        postal_code="33000",
        city="Bordeaux",
        country="FR",
        phone="+33 6 71 24 58 03",
        plan_code="free",
    ),
    CustomerSeed(
        email="nicolas.dubois@orange.example",
        full_name="Nicolas Dubois",
        company_name="",
        address_line1="14 rue des Filatiers",
        postal_code="31000",
        city="Toulouse",
        country="FR",
        phone="+33 6 12 87 45 30",
        plan_code="free",
    ),
    CustomerSeed(
        email="direction.si@hexagone-assurances.example",
        full_name="Isabelle Roux",
        company_name="Groupe Hexagone Assurances SA",
        vat_number="FR15901234567",
        address_line1="Tour Horizon, 52 quai de Dion-Bouton",
        postal_code="92800",
        city="Puteaux",
        country="FR",
        phone="+33 1 70 38 90 00",
        plan_code="enterprise",
        billing_email="fournisseurs@hexagone-assurances.example",
    ),
    CustomerSeed(
        email="hugo.lefebvre@vauban-robotique.example",
        full_name="Hugo Lefebvre",
        company_name="Vauban Robotique SAS",
        vat_number="FR33847261930",
        address_line1="11 rue Lanterne",
        postal_code="69001",
        city="Lyon",
        country="FR",
        phone="+33 4 72 10 45 86",
        plan_code="scale",  # graduated: every invoice bills two tiers of usage
    ),
    # European Union, businesses (reverse charge)
    CustomerSeed(
        email="lukas.schneider@nordlicht-software.example",
        full_name="Lukas Schneider",
        company_name="Nordlicht Software GmbH",
        vat_number="DE287654324",
        address_line1="Torstraße 118",
        postal_code="10119",
        city="Berlin",
        country="DE",
        phone="+49 30 2758 4410",
        plan_code="team",
        billing_email="buchhaltung@nordlicht-software.example",
    ),
    CustomerSeed(
        email="anna.weber@weber-kuehn.example",
        full_name="Anna Weber",
        company_name="Weber & Kühn IT GmbH",
        vat_number="DE312987608",
        address_line1="Leopoldstraße 75",
        postal_code="80802",
        city="München",
        country="DE",
        phone="+49 89 3816 2290",
        plan_code="pro",
        over_quota_months_ago=1,
    ),
    CustomerSeed(
        email="giulia.romano@romanosistemi.example",
        full_name="Giulia Romano",
        company_name="Romano Sistemi S.r.l.",
        vat_number="IT04567890126",
        address_line1="Via Paolo Sarpi 33",
        postal_code="20154",
        city="Milano",
        country="IT",
        phone="+39 02 8736 5521",
        plan_code="pro",
    ),
    CustomerSeed(
        email="carlos.garcia@datalogica.example",
        full_name="Carlos García",
        company_name="Datalógica Ibérica S.L.",
        vat_number="ESB87654323",
        address_line1="Calle de Fuencarral 45",
        postal_code="28004",
        city="Madrid",
        country="ES",
        phone="+34 915 32 48 77",
        plan_code="pro",
        unpaid_months_ago=(4, 5),
    ),
    CustomerSeed(
        email="sanne.devries@polderstack.example",
        full_name="Sanne de Vries",
        company_name="Polderstack B.V.",
        vat_number="NL854673295B01",
        address_line1="Keizersgracht 241",
        postal_code="1016 EA",
        city="Amsterdam",
        country="NL",
        phone="+31 20 624 1187",
        plan_code="team",
        billing_email="finance@polderstack.example",
    ),
    CustomerSeed(
        email="pieter.janssens@janssens-digital.example",
        full_name="Pieter Janssens",
        company_name="Janssens Digital BV",
        vat_number="BE0786543207",
        address_line1="Korenmarkt 16",
        postal_code="9000",
        city="Gent",
        country="BE",
        phone="+32 9 223 45 81",
        plan_code="pro",
    ),
    CustomerSeed(
        email="aoife.murphy@cliffside-analytics.example",
        full_name="Aoife Murphy",
        company_name="Cliffside Analytics Ltd",
        vat_number="IE6384521D",
        address_line1="12 Fitzwilliam Square",
        postal_code="D02 X285",
        city="Dublin",
        country="IE",
        phone="+353 1 676 4320",
        plan_code="pro",
    ),
    CustomerSeed(
        email="max.gruber@webwerk.example",
        full_name="Maximilian Gruber",
        company_name="Gruber Webwerk GmbH",
        vat_number="ATU45678128",
        address_line1="Mariahilfer Straße 88",
        postal_code="1070",
        city="Wien",
        country="AT",
        phone="+43 1 526 3371",
        plan_code="free",
    ),
    CustomerSeed(
        email="k.nowak@nowak-software.example",
        full_name="Katarzyna Nowak",
        company_name="Nowak Software sp. z o.o.",
        vat_number="PL5271394605",
        address_line1="ul. Floriańska 24",
        postal_code="31-019",
        city="Kraków",
        country="PL",
        phone="+48 12 421 56 93",
        plan_code="pro",
    ),
    # European Union, consumers (French VAT)
    CustomerSeed(
        email="joao.silva@sapo.example",
        full_name="João Silva",
        company_name="",
        address_line1="Rua da Rosa 112, 2.º Esq.",
        postal_code="1200-389",
        city="Lisboa",
        country="PT",
        phone="+351 912 345 678",
        plan_code="free",
    ),
    CustomerSeed(
        email="erik.lindqvist@telia.example",
        full_name="Erik Lindqvist",
        company_name="",
        address_line1="Linnégatan 9",
        postal_code="413 04",
        city="Göteborg",
        country="SE",
        phone="+46 70 123 45 67",
        plan_code="pro",
    ),
    CustomerSeed(
        email="mette.jensen@mail.example",
        full_name="Mette Jensen",
        company_name="",
        address_line1="Jægergårdsgade 40, 1. th.",
        postal_code="8000",
        city="Aarhus",
        country="DK",
        phone="+45 28 74 19 03",
        plan_code="free",
    ),
    # Outside the European Union (no French VAT)
    CustomerSeed(
        email="emily.carter@bluefin-robotics.example",
        full_name="Emily Carter",
        company_name="Bluefin Robotics Inc.",
        address_line1="535 Mission Street, Suite 1400",
        postal_code="CA 94105",
        city="San Francisco",
        country="US",
        phone="+1 415 555 0142",
        plan_code="team",
        billing_email="ap@bluefin-robotics.example",
        unpaid_months_ago=(3,),
    ),
    CustomerSeed(
        email="michael.chen@fastmail.example",
        full_name="Michael Chen",
        company_name="",
        address_line1="2100 South Congress Avenue, Apt 310",
        postal_code="TX 78704",
        city="Austin",
        country="US",
        phone="+1 512 555 0187",
        plan_code="pro",
    ),
    CustomerSeed(
        email="oliver.hughes@thameside.example",
        full_name="Oliver Hughes",
        company_name="Thameside Digital Ltd",
        address_line1="3 Bermondsey Street",
        postal_code="SE1 2ER",
        city="London",
        country="GB",
        phone="+44 20 7946 0321",
        plan_code="pro",
        over_quota_months_ago=2,
    ),
    CustomerSeed(
        email="lena.meier@alpenquell.example",
        full_name="Lena Meier",
        company_name="Alpenquell AG",
        address_line1="Bahnhofstrasse 21",
        postal_code="8001",
        city="Zürich",
        country="CH",
        phone="+41 44 668 18 00",
        plan_code="pro",
    ),
    CustomerSeed(
        email="sarah.tremblay@erable-logiciels.example",
        full_name="Sarah Tremblay",
        company_name="Érable Logiciels Inc.",
        address_line1="1250 boulevard René-Lévesque Ouest",
        postal_code="QC H3B 4W8",
        city="Montréal",
        country="CA",
        phone="+1 514 555 0119",
        plan_code="free",
    ),
    CustomerSeed(
        email="haruto.sato@sakura-devtools.example",
        full_name="Haruto Sato",
        company_name="Sakura Devtools K.K.",
        address_line1="2-11-3 Meguro, Meguro-ku",
        postal_code="153-0063",
        city="Tokyo",
        country="JP",
        phone="+81 3 5436 7720",
        plan_code="team",
        downgrade_to_plan_code="pro",
    ),
    CustomerSeed(
        email="chloe.nguyen@harbourline.example",
        full_name="Chloe Nguyen",
        company_name="Harbourline Software Pty Ltd",
        address_line1="88 George Street",
        postal_code="NSW 2000",
        city="Sydney",
        country="AU",
        phone="+61 2 9251 3390",
        plan_code="pro",
    ),
    CustomerSeed(
        email="lea.martin@bretagne-data.example",
        full_name="Léa Martin",
        company_name="Bretagne Data SAS",
        vat_number="FR40303265045",
        address_line1="5 rue de la Monnaie",
        postal_code="35000",
        city="Rennes",
        country="FR",
        phone="+33 2 99 78 12 40",
        plan_code="pro",
        trial_started_days_ago=9,
    ),
)

CREDITS = (
    CreditSeed(
        email=DEMO_CUSTOMER.email, months_ago=10, type="PROMOTIONAL", amount=Decimal("50.00"),
        reason="Welcome offer for the first months on Pro",
    ),
    CreditSeed(
        email="julien.moreau@moreau-conseil.example", months_ago=7, type="COMPENSATION", amount=Decimal("30.00"),
        reason="Documentation API outage of six hours",
    ),
    CreditSeed(
        email="lukas.schneider@nordlicht-software.example", months_ago=5, type="REFUND", amount=Decimal("19.80"),
        reason="Usage billed twice after a retried batch",
    ),
    CreditSeed(
        email="aoife.murphy@cliffside-analytics.example", months_ago=2, type="ADJUSTMENT", amount=Decimal("10.00"),
        reason="Goodwill gesture after a support escalation",
    ),
)
