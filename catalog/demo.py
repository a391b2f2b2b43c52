"""The built-in demo shop: a synthetic product catalog, a behaviour log and the after-sales policy texts.

Everything is generated from small vocabularies by seeded code, so the app runs offline on data we own, and the same
seed always gives byte-identical output. The generator plants the signals a recommender should find: users have stable
tastes (categories, brands, a price band, a colour), popular items get more traffic, and some purchases are followed by
a purchase from a complementary category (tent -> sleeping bag, camera -> memory card, ...).

    products = generate_products(1200)
    events = generate_events(products)
"""
from __future__ import annotations

import csv
import json
import math
import random
from collections import defaultdict
from itertools import accumulate
from pathlib import Path

from catalog.schema import Event, Product

# Shopper words for the demo's category names (the dialogue layer uses them only for categories a catalog has).
DEMO_CATEGORY_SYNONYMS = {"sneaker": "Running Shoes", "trainer": "Running Shoes", "earbud": "Headphones",
                          "earphone": "Headphones", "headset": "Headphones", "coat": "Jackets", "parka": "Jackets",
                          "raincoat": "Jackets", "rucksack": "Backpacks", "daypack": "Backpacks", "skillet": "Cookware",
                          "moisturiser": "Skincare", "moisturizer": "Skincare", "serum": "Skincare", "shampoo": "Haircare",
                          "perfume": "Fragrance", "cologne": "Fragrance", "duvet": "Bedding", "sheet": "Bedding",
                          "notebook": "Laptops", "weight": "Dumbbells", "trowel": "Tools", "shear": "Tools"}

# -----------------------------------------------------------------------------
# vocabularies

# Fictional brands per top-level category; the tier shifts prices and (a little) ratings.
BRANDS: dict[str, list[tuple[str, str]]] = {
    "Outdoor": [("Northpeak", "mid"), ("Trailhaven", "budget"), ("Summit & Pine", "premium"), ("Ridgeway", "mid")],
    "Electronics": [("Voltaro", "mid"), ("Sonique", "premium"), ("Bytewise", "budget"), ("Lumetra", "premium")],
    "Home": [("Hearthly", "mid"), ("Casa Verde", "budget"), ("Ironleaf", "premium")],
    "Footwear": [("Stridewell", "mid"), ("Kinetica", "premium"), ("Pacefield", "budget")],
    "Sports": [("Flexora", "mid"), ("Corestone", "budget"), ("Zenfold", "premium")],
    "Beauty": [("Glowlab", "mid"), ("Pure Petal", "budget"), ("Maison Aube", "premium")],
    "Toys": [("Brickwise", "mid"), ("Tinkertot", "budget"), ("Wonderforge", "premium")],
    "Office": [("Deskcraft", "mid"), ("Ergonova", "premium"), ("Paperline", "budget")],
    "Garden": [("Greenthumb", "budget"), ("Terrafin", "mid"), ("Oakhollow", "premium")],
    "Pets": [("Pawsome", "budget"), ("Barkley & Co", "mid"), ("Whiskerwood", "premium")],
}
TIER_PRICE = {"budget": 0.65, "mid": 1.0, "premium": 1.7}
TIER_RATING = {"budget": -0.15, "mid": 0.0, "premium": 0.2}
TIER_LABEL = {"budget": "budget", "mid": "mid-range", "premium": "premium"}
TIER_OF = {brand: tier for brands in BRANDS.values() for brand, tier in brands}

SIZES = {
    "apparel": ["S", "M", "L", "XL", "XXL"],
    "shoe": [f"US {s}" for s in range(6, 14)],
    "sml": ["S", "M", "L", "XL"],
    "bed": ["Twin", "Full", "Queen", "King"],
}
PALETTES = {
    "wear": ["Black", "Navy", "Olive", "Charcoal", "Red", "Forest Green", "Sand", "Sky Blue"],
    "tech": ["Black", "White", "Silver", "Graphite", "Midnight Blue"],
    "home": ["White", "Black", "Stone Grey", "Sage", "Terracotta", "Cream"],
    "bright": ["Multicolour", "Red", "Blue", "Yellow", "Green", "Pink"],
}
MODEL_WORDS = ("Aero Apex Arc Core Drift Echo Flex Halo Kite Luma Nova Orbit Pulse Ridge Sierra Summit Tempo Terra "
               "Vero Vista Zen Atlas Cirrus Delta").split()
MODEL_SUFFIXES = ("", "", " Pro", " Lite", " X", " II")

# One row per leaf category. Fields: path | median price (USD) | nouns | features (adjectives a shopper searches by) |
# materials | what it is for | sizes (a key of SIZES, a list, or "-") | palette ("-": none) | extras "key=v1,v2;k=...".
LEAVES_TABLE = """
Outdoor > Jackets|120|Hiking Jacket,Rain Jacket,Softshell Jacket|waterproof,breathable,packable,windproof,lightweight,insulated|nylon,recycled polyester,Gore-Tex|hiking, travel and rainy commutes|apparel|wear|waterproof=yes,no;hood=yes,no
Outdoor > Tents|180|Dome Tent,Backpacking Tent,Family Tent|waterproof,freestanding,lightweight,windproof,quick-pitch|ripstop nylon,polyester|camping trips and backpacking|-|wear|capacity=1 person,2 person,3 person,4 person,6 person;weight=1.4 kg,2.1 kg,3.5 kg
Outdoor > Sleeping Bags|90|Mummy Sleeping Bag,Rectangular Sleeping Bag,Down Sleeping Bag|lightweight,compressible,water-resistant,warm,packable|down,synthetic fill,recycled polyester|cold nights under canvas|-|wear|temperature_rating=-5 °C,0 °C,5 °C,10 °C
Outdoor > Backpacks|85|Daypack,Hiking Backpack,Laptop Backpack|water-resistant,ventilated,lightweight,padded,durable|ripstop nylon,canvas,recycled polyester|day hikes, commuting and travel|-|wear|capacity=20 L,28 L,35 L,45 L
Electronics > Headphones|150|Over-Ear Headphones,Wireless Earbuds,On-Ear Headphones|wireless,noise-cancelling,foldable,lightweight,sweat-resistant|-|music, calls and travel|-|tech|battery_life=20 h,30 h,40 h,60 h;connectivity=Bluetooth 5.3,Bluetooth 5.2
Electronics > Cameras|650|Mirrorless Camera,Compact Camera,Action Camera|4K,weather-sealed,stabilised,compact,fast-focusing|-|travel, vlogging and family photos|-|tech|sensor=APS-C,full frame,1-inch;megapixels=20 MP,24 MP,33 MP
Electronics > Memory Cards|25|SD Card,microSD Card,CFexpress Card|fast,durable,waterproof,shock-proof|-|cameras, drones and phones|-|tech|capacity=64 GB,128 GB,256 GB,512 GB;speed=V30,V60,V90
Electronics > Tripods|70|Travel Tripod,Tabletop Tripod,Video Tripod|lightweight,foldable,sturdy,quick-release|aluminium,carbon fibre|steady shots and long exposures|-|tech|max_height=35 cm,150 cm,170 cm
Electronics > Laptops|900|Ultrabook,Laptop,2-in-1 Laptop|lightweight,fast,long-lasting,backlit,thin|aluminium,magnesium alloy|work, study and travel|-|tech|screen=13.3 in,14 in,15.6 in;memory=8 GB,16 GB,32 GB
Electronics > Mice|35|Wireless Mouse,Ergonomic Mouse,Gaming Mouse|wireless,ergonomic,silent,rechargeable,precise|-|the desk and the road|-|tech|battery_life=3 months,6 months,12 months
Home > Kitchen > Cookware|80|Frying Pan,Saucepan Set,Dutch Oven|non-stick,oven-safe,dishwasher-safe,induction-ready,heavy-gauge|stainless steel,cast iron,hard-anodised aluminium|everyday cooking|-|home|pieces=1,3,5,10
Home > Kitchen > Knives|60|Chef's Knife,Knife Block Set,Santoku Knife|razor-sharp,balanced,ergonomic,full-tang|German steel,Damascus steel,ceramic|slicing, dicing and carving|-|home|blade_length=15 cm,18 cm,20 cm
Home > Kitchen > Coffee Makers|120|Espresso Machine,Drip Coffee Maker,Pour-Over Brewer|programmable,fast-heating,compact,easy-clean|stainless steel,glass,plastic|the morning cup|-|home|capacity=0.5 L,1.2 L,1.8 L
Home > Kitchen > Coffee Grinders|55|Burr Grinder,Blade Grinder,Hand Grinder|adjustable,quiet,compact,precise|stainless steel,ceramic|fresh grounds for espresso or filter|-|home|grind_settings=15,30,40
Home > Bedding|75|Duvet Cover Set,Sheet Set,Quilt|breathable,soft,hypoallergenic,machine-washable|cotton,linen,bamboo|a cool, comfortable night|bed|home|thread_count=300,400,600
Footwear > Running Shoes|110|Road Running Shoe,Trail Running Shoe,Racing Shoe|cushioned,breathable,lightweight,responsive,grippy|mesh,knit|daily miles and race day|shoe|wear|drop=4 mm,8 mm,10 mm
Footwear > Hiking Boots|140|Hiking Boot,Trekking Boot,Approach Shoe|waterproof,supportive,grippy,breathable,durable|leather,suede,synthetic|rocky trails and long treks|shoe|wear|waterproof=yes,no
Footwear > Socks|15|Running Socks,Hiking Socks,Compression Socks|moisture-wicking,cushioned,breathable,blister-free|merino wool,nylon blend,cotton blend|running and hiking|sml|wear|pack=1 pair,3 pairs,6 pairs
Sports > Yoga Mats|45|Yoga Mat,Travel Yoga Mat,Thick Yoga Mat|non-slip,eco-friendly,cushioned,lightweight|natural rubber,TPE,cork|yoga, pilates and stretching|-|bright|thickness=3 mm,5 mm,8 mm
Sports > Yoga Blocks|18|Yoga Block,Yoga Block Set,Yoga Wheel|firm,lightweight,non-slip,eco-friendly|cork,EVA foam,bamboo|support in tricky poses|-|bright|pack=1,2
Sports > Dumbbells|70|Adjustable Dumbbell,Hex Dumbbell Pair,Neoprene Dumbbell Set|adjustable,space-saving,non-slip,durable|cast iron,rubber-coated steel,neoprene|strength training at home|-|tech|weight=2 kg,5 kg,10 kg,24 kg
Sports > Cycling Helmets|75|Road Helmet,Commuter Helmet,Mountain Bike Helmet|ventilated,lightweight,adjustable,reflective|polycarbonate,EPS foam|road rides and commutes|sml|bright|crash_protection=MIPS,standard
Beauty > Skincare|28|Moisturiser,Face Serum,Gentle Cleanser|fragrance-free,hydrating,vegan,dermatologist-tested|-|a simple daily routine|30 ml,50 ml,100 ml|-|skin_type=dry,oily,combination,sensitive
Beauty > Haircare|22|Shampoo,Conditioner,Hair Mask|sulfate-free,nourishing,vegan,colour-safe|-|healthy, shiny hair|250 ml,400 ml,1 L|-|hair_type=fine,curly,thick,all
Beauty > Fragrance|65|Eau de Parfum,Eau de Toilette,Body Mist|long-lasting,fresh,warm,vegan|-|everyday wear and evenings out|30 ml,50 ml,100 ml|-|notes=citrus,floral,woody,spicy
Toys > Building Sets|40|Building Set,Construction Kit,Marble Run|creative,STEM,compatible,colourful|plastic,wood|ages 6 and up|-|bright|pieces=150,500,1200;age=4+,6+,8+
Toys > Puzzles|20|Jigsaw Puzzle,3D Puzzle,Brain Teaser|challenging,colourful,educational,sturdy|cardboard,wood|rainy afternoons|-|bright|pieces=100,500,1000;age=6+,12+
Toys > RC Cars|55|RC Car,RC Monster Truck,RC Drift Car|fast,rechargeable,off-road,durable|plastic,aluminium|backyard racing|-|bright|top_speed=15 km/h,30 km/h,45 km/h;battery_life=20 min,40 min
Office > Chairs|250|Office Chair,Task Chair,Gaming Chair|ergonomic,adjustable,breathable,padded|mesh,leather,fabric|long days at the desk|-|home|lumbar_support=yes,no;max_load=120 kg,150 kg
Office > Desks|300|Standing Desk,Writing Desk,Corner Desk|height-adjustable,sturdy,spacious,quiet|oak,walnut veneer,steel|home offices and studios|-|home|width=100 cm,120 cm,160 cm
Office > Desk Lamps|40|LED Desk Lamp,Architect Lamp,Clamp Lamp|dimmable,adjustable,energy-saving,flicker-free|aluminium,steel|late-night work|-|tech|brightness=400 lm,800 lm,1000 lm
Garden > Tools|35|Pruning Shears,Garden Trowel,Hedge Trimmer|ergonomic,rust-resistant,sharp,lightweight|stainless steel,carbon steel,ash wood|beds, borders and hedges|-|home|weight=250 g,400 g,900 g
Garden > Gloves|15|Gardening Gloves,Thorn-Proof Gloves,Work Gloves|thorn-proof,breathable,washable,grippy|leather,nitrile,cotton|pruning and planting|sml|wear|pack=1 pair,3 pairs
Garden > Planters|40|Planter,Raised Bed,Hanging Basket|frost-proof,self-watering,lightweight,UV-stable|terracotta,recycled plastic,cedar wood|patios and balconies|-|home|diameter=25 cm,40 cm,60 cm
Pets > Dog Beds|70|Orthopedic Dog Bed,Donut Dog Bed,Raised Dog Bed|orthopedic,machine-washable,non-slip,waterproof|memory foam,fleece,canvas|dogs who love to curl up|sml|home|pet_size=small,medium,large
Pets > Dog Toys|12|Chew Toy,Rope Toy,Squeaky Toy|durable,non-toxic,floating,squeaky|natural rubber,cotton rope,plush|playtime and teething|-|bright|pet_size=small,medium,large
Pets > Cat Trees|90|Cat Tree,Cat Tower,Scratching Post|sturdy,multi-level,sisal-wrapped,easy-assemble|sisal,plush,engineered wood|climbing, scratching and naps|-|home|height=80 cm,120 cm,160 cm
"""
LEAVES = [row.split("|") for row in LEAVES_TABLE.strip().splitlines()]

# After buying the key, shoppers often come back for one of these (all are leaves above).
COMPLEMENTS: dict[str, list[str]] = {
    "Outdoor > Tents": ["Outdoor > Sleeping Bags"],
    "Outdoor > Sleeping Bags": ["Outdoor > Backpacks"],
    "Electronics > Cameras": ["Electronics > Memory Cards", "Electronics > Tripods"],
    "Electronics > Laptops": ["Electronics > Mice", "Outdoor > Backpacks"],
    "Footwear > Running Shoes": ["Footwear > Socks"],
    "Footwear > Hiking Boots": ["Footwear > Socks"],
    "Home > Kitchen > Coffee Makers": ["Home > Kitchen > Coffee Grinders"],
    "Home > Kitchen > Cookware": ["Home > Kitchen > Knives"],
    "Sports > Yoga Mats": ["Sports > Yoga Blocks"],
    "Pets > Dog Beds": ["Pets > Dog Toys"],
    "Office > Desks": ["Office > Chairs", "Office > Desk Lamps"],
    "Garden > Tools": ["Garden > Gloves"],
}

TIER_SENTENCES = {"budget": ["A dependable everyday pick at an easy price.", "Simple, sturdy and good value."],
                  "mid": ["A well-balanced choice that gets the details right.", "Solid quality at a fair price."],
                  "premium": ["Premium materials and carefully finished details.", "Built to last, with top quality."]}


# -----------------------------------------------------------------------------
# products

def _new_model(rng: random.Random, leaf: list[str], used_names: set) -> dict:
    """A product line: everything its colour/size variants share."""
    path, median, nouns, features, materials, use, sizing, palette, extras = leaf
    top = path.split(" > ")[0]
    brand, tier = rng.choice(BRANDS[top])
    while True:  # model names are unique per brand, which keeps titles unique
        name = f"{rng.choice(MODEL_WORDS)} {rng.randint(1, 99) * 10}{rng.choice(MODEL_SUFFIXES)}"
        if (brand, name) not in used_names:
            used_names.add((brand, name))
            break
    # Log-normal around the category median, clipped so no listing is absurd.
    spread = math.exp(max(-2.5, min(2.5, rng.gauss(0, 1))) * 0.35)
    rating = 3.95 + TIER_RATING[tier] + rng.gauss(0, 0.3)
    if rng.random() < 0.05:
        rating -= rng.uniform(1.0, 2.0)  # the odd dud, so low ratings exist
    sizes = SIZES.get(sizing) or ([""] if sizing == "-" else sizing.split(","))
    noun = rng.choice(nouns.split(","))
    feats = rng.sample([f for f in features.split(",") if f not in noun.lower()], 3)  # no "Wireless Wireless Mouse"
    extra = {}
    for k, values in (kv.split("=") for kv in extras.split(";")):
        # A yes/no attribute that is also a feature must agree with the title ("Waterproof ..." -> waterproof: yes).
        extra[k] = ("yes" if k in feats else "no") if k in features.split(",") else rng.choice(values.split(","))
    return {
        "path": path, "top": top, "brand": brand, "tier": tier, "name": name, "use": use, "sizes": sizes, "noun": noun,
        "features": feats, "extras": extra,
        "material": "" if materials == "-" else rng.choice(materials.split(",")),
        "gender": rng.choice(("Men's ", "Women's ")) if sizing in ("apparel", "shoe") else "",
        "colours": [""] if palette == "-" else rng.sample(PALETTES[palette], rng.randint(2, 4)),
        "price": max(1, int(float(median) * TIER_PRICE[tier] * spread)) + rng.choice((0.49, 0.99)),  # x.49 / x.99
        "rating": min(5.0, max(1.0, rating)),
        "reviews": rng.lognormvariate(3.2, 1.4),
    }


def _variant(rng: random.Random, m: dict, pid: str, colour: str, size: str) -> Product:
    f0, f1, f2 = m["features"]
    variant = ", ".join(x for x in (colour, size) if x)
    title = f"{m['brand']} {m['gender']}{m['name']} {f0.title()} {m['noun']}, {f1.title()} & {f2.title()} – {variant}"
    verb = "are" if m["noun"].endswith("s") else "is"  # "Running Socks are"
    sentences = [f"The {m['brand']} {m['name']} {m['noun']} {verb} {f0} and {f1}, made for {m['use']}."]
    made = f"Made from {m['material']}, this" if m["material"] else "This"
    version = f"{colour.lower()} version" if colour else "one"
    optional = [
        f"{made} {version}{f' ({size})' if size else ''} is also {f2}.",
        " ".join(f"{k.replace('_', ' ').capitalize()}: {v}." for k, v in m["extras"].items()),
        rng.choice(TIER_SENTENCES[m["tier"]]),
    ]
    sentences += rng.sample(optional, rng.randint(1, 3))
    attributes = {k: v for k, v in (("colour", colour), ("size", size), ("material", m["material"])) if v}
    attributes.update(m["extras"])
    leaf_name = m["path"].split(" > ")[-1].lower()
    tags = [leaf_name, f0, f1, TIER_LABEL[m["tier"]]][: rng.randint(2, 4)]
    in_stock = rng.random() < 0.92
    return Product(
        id=pid, title=title, description=" ".join(sentences), category=m["path"], brand=m["brand"],
        price=m["price"], currency="USD", attributes=attributes,
        rating=round(min(5.0, max(1.0, m["rating"] + rng.gauss(0, 0.08))), 1),
        review_count=1 + int(m["reviews"] * rng.uniform(0.3, 1.0)), image_url="", in_stock=in_stock,
        stock=int(rng.lognormvariate(3.0, 1.0)) + 1 if in_stock else 0, tags=tags,
    )


def generate_products(n: int = 1200, seed: int = 0) -> list[Product]:
    """n products over every leaf category; each model comes in 1-4 colour/size variants, like a real shop."""
    rng = random.Random(seed)
    used_names: set = set()
    products: list[Product] = []
    while len(products) < n:
        m = _new_model(rng, rng.choice(LEAVES), used_names)
        combos = [(c, s) for c in m["colours"] for s in m["sizes"]]
        k = min(rng.choice((1, 1, 2, 2, 3, 4)), len(combos), n - len(products))
        for colour, size in rng.sample(combos, k):
            products.append(_variant(rng, m, f"P{len(products) + 1:06d}", colour, size))
    return products


# -----------------------------------------------------------------------------
# users and behaviour

def user_tastes(n_users: int = 2000, seed: int = 0) -> dict[str, dict]:
    """Each user's stable tastes: leaf categories, favourite brands, price band, colour and how active they are."""
    rng = random.Random(f"tastes:{seed}")  # str seeds go through SHA-512, not hash(), so this is stable
    leaf_paths = [row[0] for row in LEAVES]
    palette_of = {row[0]: PALETTES.get(row[7], PALETTES["home"]) for row in LEAVES}  # beauty has no colours
    tastes = {}
    for u in range(1, n_users + 1):
        first = rng.choice(leaf_paths)
        top = first.split(" > ")[0]
        siblings = [p for p in leaf_paths if p.startswith(top + " >") and p != first]
        leaves = [first]
        for _ in range(rng.randint(0, 2)):  # mostly more of the same family, sometimes a second interest
            pool = [p for p in (siblings if rng.random() < 0.6 else leaf_paths) if p not in leaves]
            leaves.append(rng.choice(pool))
        tier = rng.choice(("budget", "mid", "premium"))
        brands = []
        for i in range(rng.randint(1, 3)):  # the first favourite is from the main interest's family
            candidates = BRANDS[top] if i == 0 else sorted({b for p in leaves for b in BRANDS[p.split(" > ")[0]]})
            weights = [3 if t == tier else 1 for _, t in candidates]  # premium shoppers lean to premium brands
            b = rng.choices(candidates, weights)[0][0]
            if b not in brands:
                brands.append(b)
        tastes[f"U{u:05d}"] = {
            "leaves": leaves, "tops": list(dict.fromkeys(p.split(" > ")[0] for p in leaves)), "brands": brands,
            "tier": tier, "colour": rng.choice(palette_of[first]), "activity": rng.lognormvariate(0, 1.0),
        }
    return tastes


def _pools(products: list[Product]) -> dict:
    """Popularity-weighted item pools by leaf, and by leaf x brand / tier / colour, for fast weighted draws."""
    grouped: dict = defaultdict(list)
    for p in products:
        pop = (p.review_count + 5) ** 0.7 * ((p.rating or 3.0) / 5) ** 3  # busy, well-rated items get the traffic
        for key in (p.category, (p.category, p.brand), (p.category, TIER_OF.get(p.brand)),
                    (p.category, p.attributes.get("colour"))):
            grouped[key].append((p, pop))
    return {key: ([p for p, _ in items], list(accumulate(w for _, w in items))) for key, items in grouped.items()}


def _draw(rng: random.Random, pools: dict, keys: list) -> Product:
    for key in keys:  # the first pool that exists; the bare leaf is always last
        if key in pools:
            items, cum = pools[key]
            return rng.choices(items, cum_weights=cum)[0]
    raise KeyError(keys[-1])


def _session(rng: random.Random, taste: dict, state: dict, pools: dict, leaves: list[str]) -> list[tuple[str, str]]:
    """One visit as (item_id, type) steps: a funnel of views, fewer clicks, fewer carts, fewer purchases."""
    steps: list[tuple[str, str]] = []
    for item in list(state["cart"]):  # back to check out what was left in the cart
        if rng.random() < 0.35:
            steps.append((item.id, "purchase"))
            state["cart"].remove(item)
    if state["followups"] and rng.random() < 0.9:
        leaf, brand, tier = state["followups"].pop(0)
        keys, boost = [(leaf, brand), (leaf, tier), leaf], 0.35
    else:
        on_taste = rng.random() < 0.8
        leaf = rng.choice([lf for lf in taste["leaves"] if lf in pools] or leaves) if on_taste else rng.choice(leaves)
        brand = rng.choice(taste["brands"])
        aspect = rng.choice([(leaf, brand), (leaf, brand), (leaf, taste["tier"]), (leaf, taste["colour"]), leaf])
        keys, boost = ([aspect, leaf] if on_taste else [leaf]), 0.0
    for _ in range(rng.randint(2, 7)):
        item = _draw(rng, pools, keys)
        steps.append((item.id, "view"))
        liked = item.brand in taste["brands"] or item.category in taste["leaves"]
        if rng.random() < (0.55 if liked else 0.35) + boost:
            steps.append((item.id, "click"))
            if rng.random() < (0.45 if liked else 0.25) + boost:
                steps.append((item.id, "add_to_cart"))
                if rng.random() < 0.55 + boost:
                    steps.append((item.id, "purchase"))
                    targets = [c for c in COMPLEMENTS.get(item.category, []) if c in pools]  # small catalogs lack some
                    if targets and rng.random() < 0.6:  # ~60% come back for a complement, and most of those buy
                        state["followups"].append((rng.choice(targets), item.brand, TIER_OF[item.brand]))
                    boost = 0.0  # one complement per visit is plenty
                else:
                    state["cart"].append(item)
    return steps


def generate_events(products: list[Product], n_users: int = 2000, n_events: int = 60000, seed: int = 0,
                    start: float = 1_767_225_600.0, days: int = 120) -> list[Event]:
    """Exactly n_events behaviour events from n_users users, in sessions spread over `days`, sorted by time."""
    rng = random.Random(seed)
    tastes = user_tastes(n_users, seed)
    pools = _pools(products)
    leaves = [row[0] for row in LEAVES if row[0] in pools]
    # Split the events over users by activity (a long tail), every user getting at least one short visit.
    floor_ = min(4, n_events // max(1, n_users))
    total_activity = sum(t["activity"] for t in tastes.values())
    quotas = {u: floor_ + int(t["activity"] / total_activity * (n_events - floor_ * n_users)) for u, t in tastes.items()}
    users = list(tastes)
    for i in range(n_events - sum(quotas.values())):
        quotas[users[i % n_users]] += 1
    events: list[Event] = []
    n_sessions = 0
    for u in users:
        state: dict = {"cart": [], "followups": []}
        sessions, left = [], quotas[u]
        while left > 0:
            steps = _session(rng, tastes[u], state, pools, leaves)[:left]  # cutting a tail keeps cart-before-purchase
            if steps:
                sessions.append(steps)
                left -= len(steps)
        if not sessions:
            continue
        # One time slot per session, so sessions never overlap and cover the whole window.
        slot = days * 86400 / len(sessions)
        for k, steps in enumerate(sessions):
            gaps = [0.0] + [rng.uniform(5, 120) for _ in steps[1:]]
            scale = min(1.0, 0.9 * slot / max(1.0, sum(gaps)))
            t = start + k * slot + rng.random() * max(0.0, slot - sum(gaps) * scale)
            n_sessions += 1
            for (item_id, kind), gap in zip(steps, gaps):
                t += gap * scale
                events.append(Event(u, item_id, kind, round(t, 3), f"S{n_sessions:06d}"))
    events.sort(key=lambda e: e.timestamp)
    return events


def _personas(tastes: dict[str, dict], k: int = 4) -> dict[str, str]:
    """Active users with different main interests and price bands, to show off personalisation in the demo."""
    chosen: dict[str, str] = {}
    seen_tops, seen_tiers = set(), set()
    for u, t in tastes.items():
        tiers_left = len(seen_tiers) < 3
        clear = t["activity"] >= 2.5 and TIER_OF[t["brands"][0]] == t["tier"]  # busy, and true to their band
        if not clear or t["tops"][0] in seen_tops or (tiers_left and t["tier"] in seen_tiers):
            continue
        seen_tops.add(t["tops"][0])
        seen_tiers.add(t["tier"])
        interests = ", ".join(p.split(" > ")[-1].lower() for p in t["leaves"])
        chosen[u] = f"{t['tops'][0].lower()} ({interests}), {TIER_LABEL[t['tier']]}, {t['brands'][0]} fan"
        if len(chosen) == k:
            break
    return chosen


# Users of the default log (generate_events(products) with seed 0 and 2000 users) worth logging in as.
DEMO_PERSONAS: dict[str, str] = _personas(user_tastes(2000, 0))


# -----------------------------------------------------------------------------
# after-sales policies

# One entry per policy: "id | title", then the text. Facts are concrete and agree with each other, since the assistant
# quotes them to customers.
POLICIES_TEXT = """
returns | Returns and refunds
Demo Shop accepts returns within 30 days of delivery for any reason. Items must be unused, with tags and original
packaging; opened beauty products cannot be returned unless they arrived damaged or faulty. To start a return, open
Orders in your account and click 'Start a return' on the order; US addresses get a free prepaid label, international
customers pay return shipping. Refunds go to the original payment method within 5 business days of the return
reaching our warehouse (banks may take 3-10 more business days). Shipping costs are refunded only for damaged, faulty
or wrong items.

shipping | Shipping options and delivery times
Orders leave our warehouse within 1 business day. Standard shipping costs $5.99 and takes 5-7 business days; it is
free on orders of $50 or more after discounts. Express costs $14.99 and takes 2-3 business days; next-day delivery
costs $24.99 for orders placed before 2 pm Eastern Time, Monday to Friday. We ship to Canada, the United Kingdom, the
European Union and Australia for a flat $19.99 in 7-14 business days; import duties and taxes are paid by the customer.

warranty | Warranty
Every product is covered against manufacturing defects: 2 years for Electronics, 5 years for Office chairs and desks,
90 days for Beauty, and 1 year for everything else. The warranty covers faults in materials and workmanship, such as
a seam that splits or a device that stops charging, but not wear and tear, accidents, misuse or unauthorised repairs.
To claim, click 'Report a problem' on the order in Orders and add a photo or video of the fault; we reply within 2
business days. Approved claims are repaired, replaced or refunded within 10 business days, with shipping paid by us.

payment | Payment methods and billing
We accept Visa, Mastercard, American Express, Discover, PayPal, Apple Pay, Google Pay and Demo Shop gift cards, but
not cash on delivery, checks or cryptocurrency. Your card is authorised when you order and charged when the order
ships. If a payment fails, the order is held for 48 hours and we email you; update the payment method in Orders in
that time or the order is cancelled. A PDF invoice is under 'Download invoice' in Orders once the order has shipped.
All prices are in US dollars (USD).

order-tracking | Order status, tracking and changes
Every order and its tracking number are under Orders in your account, and we email the tracking link when the parcel
ships. Statuses: Placed (received), Processing (being packed), Shipped (with the carrier), Out for delivery, Delivered
and Cancelled. You can change the address or items, or cancel, within 1 hour of ordering while the status is Placed,
with 'Edit order' or 'Cancel order'; after that, return the item once delivered. If tracking has not updated for 5
business days, contact support and we open an investigation with the carrier.

price-match | Price match
If Demo Shop lowers the price of an item within 14 days of your purchase, we refund the difference on request. We also
match an identical item (same brand, model, colour and size) in stock on a major US retailer's own website; marketplace,
clearance, auction and membership-only prices are excluded. Claim via support with your order number and a link to
the lower price within those 14 days.

gift-cards | Gift cards
Demo Shop gift cards are digital, sold from $10 to $500 and delivered by email, at once or on a date you choose. They
never expire, have no fees, and cannot be exchanged for cash or used to buy other gift cards. Check the balance under
Account > Gift cards; refunds for orders paid by gift card go back to the gift card.

damaged-items | Damaged, broken, faulty or wrong items
Report an item that arrives damaged, broken (a cracked, snapped or missing part), faulty or wrong within 7 days of
delivery with 'Report a problem' in Orders, adding a photo of the item and the packaging. We send a free replacement
or give a full refund including shipping, as you prefer. Items under $20 you may keep; for others we email a prepaid return label. Faults that appear after 7 days
are handled under the warranty.

contact | Contact and support hours
Support is available by live chat, by email at support@demoshop.example and by phone at 1-800-555-0199, Monday to
Friday 8 am to 8 pm and Saturday 9 am to 5 pm Eastern Time; we are closed on Sundays and US public holidays. We
answer emails within 24 hours on business days. Have your order number ready: it starts with DS- and is in every email.

privacy | Privacy and your data
Demo Shop stores your account details, order history and browsing and purchase events, and uses them to fulfil orders
and personalise recommendations; we never sell your data. Under Account > Privacy you can turn off personalised
recommendations, download your data, or delete your account. Deletion is completed within 30 days, except order and
invoice records, which tax law requires us to keep for 7 years.
"""


def policy_documents() -> list[dict]:
    """The shop's after-sales policies and FAQ, as {"id", "title", "text"} dicts for grounding answers."""
    docs = []
    for block in POLICIES_TEXT.strip().split("\n\n"):
        head, _, body = block.partition("\n")
        doc_id, title = (x.strip() for x in head.split("|"))
        docs.append({"id": doc_id, "title": title, "text": " ".join(body.split())})
    return docs


# -----------------------------------------------------------------------------

def write_demo_files(out_dir: str | Path, n_products: int = 1200, seed: int = 0) -> dict[str, Path]:
    """Write demo_products.jsonl, demo_events.csv and policies.jsonl into out_dir and return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    products = generate_products(n_products, seed)
    paths = {"products": out / "demo_products.jsonl", "events": out / "demo_events.csv",
             "policies": out / "policies.jsonl"}
    with open(paths["products"], "w", encoding="utf-8") as f:
        for p in products:
            f.write(json.dumps(p.to_dict(), ensure_ascii=False) + "\n")
    with open(paths["events"], "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["user_id", "item_id", "type", "timestamp", "session_id"])
        for e in generate_events(products, seed=seed):
            w.writerow([e.user_id, e.item_id, e.type, e.timestamp, e.session_id])
    with open(paths["policies"], "w", encoding="utf-8") as f:
        for doc in policy_documents():
            f.write(json.dumps(doc, ensure_ascii=False) + "\n")
    return paths
