"""Build tokenmill's small synthetic sample corpus (``data/sample``).

Run ``python -m data.make_sample [OUTDIR]`` from the repository root (default: ``sample/``
next to this script).
It writes:

* ``web-000.warc.gz`` .. ``web-002.warc.gz``: WARC/1.0 files laid out like Common Crawl's
  (one gzip member per record; a ``warcinfo`` record, then a ``request`` and a ``response``
  record per page) holding regular articles in four languages, near and exact duplicates,
  spam, pages with PII, and awkward records (404, 301, PNG, PDF, Latin-1, a mislabelled
  charset, no charset, a truncated body);
* ``wiki.jsonl``: short encyclopedia-style articles, one JSON object per line;
* ``manifest.jsonl``: the ground truth for every response record (category, language,
  which page a duplicate copies, where the record sits in its file);
* ``README.md``: a description of the files.

All prose below was written for tokenmill. Articles are composed from topic sentence banks
with seeded ``random.Random`` generators; dates and record ids are fixed, so two runs give
byte-identical files. Only the standard library is used, and the repository's one WARC
writer (support/warcs.py).
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import html
import itertools
import json
import random
import re
import struct
import unicodedata
import uuid
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from email.utils import format_datetime
from functools import partial
from http import HTTPStatus
from pathlib import Path
from typing import NamedTuple
from urllib.parse import quote, urlsplit

from support.warcs import format_record, gzip_member

SEED = "tokenmill-sample-v1"
WARC_FILE_COUNT = 3
CRAWL_START = dt.datetime(2024, 2, 20, 6, 0, tzinfo=dt.UTC)
FIRST_PUBLISHED = dt.date(2022, 11, 1)
RECORD_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://example.org/tokenmill/sample")
USER_AGENT = "tokenmill-sample-bot/1.0 (+https://example.org/tokenmill/bot)"
WIKI_BASE = "https://wiki.example.org/wiki/"
SLOT_PATTERN = re.compile(r"\{(\w+)\}")


def lines(text: str) -> list[str]:
    """The non-blank lines of a text bank, stripped."""
    return [line.strip() for line in text.strip().splitlines() if line.strip()]


def prose(text: str) -> str:
    """A paragraph written over several source lines, joined into one line."""
    return " ".join(text.split())


def make_rng(*labels: object) -> random.Random:
    """An independent, reproducible generator for one part of the sample."""
    return random.Random("/".join([SEED, *map(str, labels)]))


# ---------------------------------------------------------------------------------------
# Text banks: topics
# ---------------------------------------------------------------------------------------


@dataclass
class Table:
    caption: str
    header: list[str]
    rows: list[str]
    ranges: list[tuple[int, int]]


@dataclass
class Topic:
    """A sentence bank; ``{slot}`` placeholders are filled per article or per sentence.

    When ``anchor`` is set, each article picks one of ``anchors`` for that slot and keeps it
    for the whole article (its subject), so that titles and sentences agree.
    """

    name: str
    lang: str
    titles: list[str]
    sentences: list[str]
    slots: dict[str, list[str]] = field(default_factory=dict)
    anchor: str | None = None
    anchors: list[str] = field(default_factory=list)
    bullets: tuple[str, list[str]] | None = None
    table: Table | None = None


COMMON_SLOTS: dict[str, dict[str, list[str]]] = {
    "en": {
        "name": lines("""
            Dana Whitfield
            Marcus Oyelaran
            Priya Raman
            Tomas Lindqvist
            Helen Carver
            Samuel Achterberg
            Grace Adeyemi
            Owen Fairweather
            Ruth Castellano
            Ian McAllister
            Leah Brandon
            Noah Pemberton
            Alice Fenwick
            Victor Haldane
            Maya Thornbury
            Edwin Ashdown
        """),
        "town": ["Northfield", "Ashbury", "Millbrook", "Harlow Bay", "Stonecross", "Eastwick"],
        "weekday": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"],
        "month": ["March", "April", "May", "June", "September", "October", "November"],
        "num": ["two", "three", "four", "five", "six", "eight", "ten", "twelve"],
        "bignum": ["300", "800", "1,200", "2,500", "4,000"],
        "year": ["2016", "2017", "2018", "2019", "2020", "2021"],
        "oldyear": ["1798", "1834", "1862", "1887", "1903", "1921"],
    },
    "de": {
        "name": lines("""
            Anna Becker
            Jonas Hoffmann
            Lena Wagner
            Markus Schulz
            Sabine Krüger
            Thomas Neumann
            Katrin Vogel
            Stefan Lehmann
        """),
        "town": ["Nordheim", "Lindenau", "Bergfelde", "Altenbrück"],
        "weekday": ["Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag"],
        "month": ["März", "April", "Mai", "September", "Oktober"],
        "num": ["zwei", "drei", "vier", "fünf", "sechs", "acht"],
    },
    "fr": {
        "name": lines("""
            Claire Dubois
            Julien Martin
            Sophie Lefèvre
            Antoine Moreau
            Élodie Garnier
            Mathieu Roux
            Camille Faure
        """),
        "town": ["Beaurivage", "Saint-Valmont", "Montclair-sur-Loire", "Villefranche-le-Bois"],
        "weekday": ["lundi", "mardi", "mercredi", "jeudi", "vendredi"],
        "month": ["mars", "avril", "mai", "septembre", "octobre"],
        "num": ["deux", "trois", "quatre", "six", "huit"],
    },
    "es": {
        "name": lines("""
            Lucía Fernández
            Javier Ortega
            Carmen Ruiz
            Diego Navarro
            Marta Iglesias
            Pablo Serrano
        """),
        "town": ["Valdeluz", "San Martín del Río", "Puerto Albar", "Villanueva de la Sierra"],
        "weekday": ["lunes", "martes", "miércoles", "jueves", "viernes"],
        "month": ["marzo", "abril", "mayo", "septiembre", "octubre"],
        "num": ["dos", "tres", "cuatro", "seis", "ocho"],
    },
}

ENGLISH_TOPICS = [
    Topic(
        name="science",
        lang="en",
        anchor="subject",
        anchors=lines("""
            coral reefs
            migrating songbirds
            lake sediments
            soil microbes
            volcanic ash clouds
            deep-sea vents
            urban foxes
            glacial meltwater
        """),
        titles=lines("""
            What a decade of fieldwork taught us about {subject}
            New measurements shed light on {subject}
            Why scientists are paying closer attention to {subject}
            A beginner's guide to the research on {subject}
            Five surprising findings about {subject}
            Citizen scientists help map {subject}
            The quiet revolution in how we study {subject}
            Inside the lab that studies {subject}
        """),
        slots={
            "institute": lines("""
                University of Ashbury
                Harlow Bay Marine Station
                Northfield Institute of Technology
                Stonecross Field Centre
            """),
            "instrument": lines("""
                a mass spectrometer
                a network of cheap sensors
                high-speed cameras
                a small underwater drone
                satellite imagery
            """),
            "period": ["three summers", "eighteen months", "a full decade", "two field seasons"],
        },
        sentences=lines("""
            Researchers at the {institute} have spent {period} collecting data on {subject}.
            The team relied on {instrument} to record changes that are invisible to the naked eye.
            Their results, published in {month}, suggest a more complicated picture.
            Much of what we know about {subject} comes from a handful of long-running studies.
            {name}, who led the project, said the hardest part was the bad weather.
            Every measurement was checked twice before it entered the shared database.
            The data show a clear seasonal pattern, with the largest changes in late summer.
            Not every colleague is convinced, and several have asked for the raw data to check it.
            Independent scrutiny of this kind is exactly how science is supposed to work.
            Funding for the work came from a mix of public grants and a small private foundation.
            One unexpected result was how quickly conditions recovered after a severe storm.
            The researchers caution that a single study cannot settle the question.
            Samples were frozen on site and shipped to the laboratory within {num} days.
            Volunteers from nearby schools helped with the simpler parts of the fieldwork.
            The next phase will compare the results with records going back to {year}.
            Modelling the system on a computer proved far harder than collecting the samples.
            Small differences in temperature had a surprisingly large effect on the outcome.
            The findings could help planners decide where to focus limited conservation money.
            Earlier estimates had been based on far fewer observations.
            A second team at the {institute} is now trying to reproduce the work independently.
            Careful, patient observation still matters in an age of big data.
            {name} described the first season as a steep learning curve for everyone involved.
            The study also produced a public dataset that other researchers can use freely.
            Critics point out that the sampling sites were all within a short drive of the lab.
            Even so, the overall trend was consistent across every site the team visited.
            Some of the most useful data came from equipment that cost less than a bicycle.
            Questions about {subject} are likely to keep researchers busy for years to come.
            The authors plan to publish their analysis code alongside the next paper.
            Weather records from the period were used to rule out the simplest explanation.
            For now, the researchers say, the public can help most by reporting what they see.
        """),
        bullets=(
            "The team's field kit included:",
            lines("""
                waterproof notebooks and pencils
                a handheld GPS unit
                sample bottles labelled in advance
                a portable freezer box
                spare batteries for every device
                a first-aid kit
            """),
        ),
        table=Table(
            "Samples collected per season",
            ["Site", "Spring", "Summer", "Autumn"],
            ["North transect", "South transect", "Control site", "Harbour edge"],
            [(12, 90), (20, 140), (10, 80)],
        ),
    ),
    Topic(
        name="cooking",
        lang="en",
        anchor="dish",
        anchors=lines("""
            lentil soup
            roast chicken
            rosemary focaccia
            vegetable curry
            banana bread
            mushroom risotto
            fish tacos
            apple crumble
        """),
        titles=lines("""
            The only {dish} recipe you will need this winter
            How to make {dish} on a busy weeknight
            Ten minutes of prep, one great {dish}
            Why my grandmother's {dish} still beats every restaurant version
            Common mistakes to avoid when cooking {dish}
            A budget-friendly take on {dish}
            Cooking {dish} for a crowd without the stress
            What I learned from making {dish} every week for a month
        """),
        slots={
            "ingredient": lines("""
                garlic
                fresh thyme
                smoked paprika
                a squeeze of lemon
                good olive oil
                a knob of butter
                chopped parsley
                grated parmesan
            """),
            "tool": lines("""
                a heavy cast-iron pan
                a wide saucepan
                a sharp chef's knife
                an old baking tray
                a sturdy wooden spoon
            """),
            "minutes": ["ten", "fifteen", "twenty", "twenty-five", "forty"],
        },
        sentences=lines("""
            There are countless versions of {dish}, but the best ones share a few simple habits.
            Start by getting everything ready before you turn on the heat.
            I like to add {ingredient} right at the end, when its flavour is still bright.
            If you only own one piece of equipment, make it {tool}.
            Most of the work happens in the first {minutes} minutes; then leave it alone.
            Season a little at a time and taste as you go.
            My first attempt at {dish} was edible, but only just.
            Leftovers keep well in the fridge for two or three days.
            Resist the urge to stir constantly; a little patience builds better flavour.
            A pinch of salt in the early stages makes a bigger difference than a handful at the end.
            If the pan looks dry, add a splash of water rather than more oil.
            Children in our house happily eat {dish} as long as nobody mentions the vegetables.
            You can swap {ingredient} for whatever you have in the cupboard.
            Shop-bought stock is perfectly fine, although homemade is even better.
            The dish freezes well, so it is worth cooking a double batch.
            Serve it with crusty bread and a simple green salad.
            My neighbour {name} swears by adding {ingredient}, and I have come round to the idea.
            Low and slow is the rule for the first stage of cooking.
            Let it rest for {minutes} minutes before serving so the flavours can settle.
            A cheap digital thermometer takes the guesswork out of the process.
            Do not worry if it looks a little rough; home cooking is not a competition.
            Readers often ask whether {dish} can be made ahead, and the answer is yes.
            The recipe scales up easily for a larger group.
            Cold ingredients straight from the fridge slow everything down, so take them out early.
            With {dish}, technique matters far more than expensive ingredients.
            I usually finish the plate with {ingredient} and a crack of black pepper.
            The smell alone is enough to bring everyone into the kitchen.
            If you are cooking for guests, make a small test batch the weekend before.
            Leftover herbs can be chopped and frozen in a little oil for next time.
            Above all, cook it the way your household likes it.
        """),
        bullets=(
            "You will need:",
            lines("""
                two onions, finely chopped
                three cloves of garlic
                a litre of vegetable stock
                a tin of chopped tomatoes
                salt and black pepper
                a handful of fresh herbs
            """),
        ),
        table=Table(
            "Prep and cooking times",
            ["Stage", "Minutes (small batch)", "Minutes (large batch)"],
            ["Preparation", "Browning", "Simmering", "Resting"],
            [(5, 25), (10, 45)],
        ),
    ),
    Topic(
        name="travel",
        lang="en",
        anchor="place",
        anchors=lines("""
            Lisbon
            the Scottish Highlands
            Kyoto
            the Amalfi Coast
            Vancouver Island
            Krakow
            the Norwegian fjords
            Porto
        """),
        titles=lines("""
            Three days in {place} on a modest budget
            A slow traveller's guide to {place}
            What nobody tells you before visiting {place}
            Off-season in {place}: quieter streets and better prices
            Getting around {place} without a car
            Where to eat, sleep and walk in {place}
            A rainy week in {place} and why I loved it
            Planning a family trip to {place}
        """),
        slots={
            "transport": lines("""
                the regional train
                a local bus
                a rented bicycle
                the early ferry
                a shared taxi
            """),
            "season": ["early spring", "late autumn", "midsummer", "the shoulder season"],
            "stay": lines("""
                a small guesthouse
                a family-run hotel
                a rented flat
                a hostel near the station
            """),
        },
        sentences=lines("""
            I arrived in {place} with a small backpack and no fixed plan.
            The easiest way to reach the centre is {transport}, which runs every half hour.
            We stayed in {stay}, and the owner gave us better advice than any guidebook.
            Visiting in {season} meant fewer crowds and lower prices.
            Book the first night in advance, then decide the rest as you go.
            Many of the best views cost nothing more than a steep walk.
            Bring layers, because the weather can change within an hour.
            A simple lunch from a market stall was one of the highlights of the trip.
            Most museums close one day a week, so check before you set out.
            Learning a few words of the local language goes a long way.
            Our host, {name}, suggested a walk along the water that we would never have found alone.
            Cash is still useful in smaller shops and cafés.
            The old town is best explored on foot, ideally early in the morning.
            Trains were punctual, comfortable and cheaper than expected.
            Even in {season}, the popular viewpoints get busy by mid-morning.
            I would happily return to {place} just for the food.
            Travel insurance felt like an unnecessary expense until a friend needed a doctor.
            A day trip by {transport} showed us a quieter side of the region.
            The tourist office had free maps and surprisingly honest opinions.
            Our daily spending stayed well within the budget we had set at home.
            Pack comfortable shoes; the streets are steeper than they look in photographs.
            Evenings were quiet, which suited us perfectly after long days of walking.
            Some of the smaller villages have only one bus in each direction per day.
            If you can, stay an extra night so that you do not spend the whole trip in transit.
            Sunset from the harbour wall was worth the wait.
            Free walking tours are a good introduction, but remember to tip the guide.
            Locals were patient with our questions and generous with their time.
            Looking back, the unplanned detours were the moments we remember best.
            Reusable water bottles can be filled at public fountains in many places.
            This is a place that rewards visitors who slow down and let the day unfold.
        """),
        bullets=(
            "What I packed for the trip:",
            lines("""
                a light rain jacket
                comfortable walking shoes
                a reusable water bottle
                a pocket phrasebook
                a universal plug adapter
                a paperback for long train rides
            """),
        ),
        table=Table(
            "Approximate travel times from the centre",
            ["Destination", "By train (min)", "By bus (min)"],
            ["Airport", "Coast", "Old town", "Lakeside village"],
            [(10, 60), (15, 90)],
        ),
    ),
    Topic(
        name="local",
        lang="en",
        anchor="project",
        anchors=lines("""
            the new library wing
            the riverside cycle path
            the Saturday farmers market
            the community pool renovation
            the school crossing on Mill Road
            the town hall clock repair
            the allotment expansion
            the winter night bus
        """),
        titles=lines("""
            Council approves funding for {project}
            Residents split over {project}
            Delays hit {project} as costs rise
            Volunteers step in to support {project}
            Public meeting on {project} draws a large crowd
            What happens next for {project}
            Businesses welcome {project}
            Survey shows strong backing for {project}
        """),
        slots={
            "venue": lines("""
                the community centre
                St Mark's church hall
                the library meeting room
                the old fire station
            """),
            "amount": ["£40,000", "£125,000", "£2.3 million", "£310,000"],
        },
        sentences=lines("""
            Plans for {project} were discussed at a packed meeting in {venue} on {weekday} evening.
            Councillor {name} said the budget of {amount} had been agreed after months of debate.
            Some neighbours worry about noise and parking during construction.
            Others say {town} has waited far too long for an improvement like this.
            Work is expected to begin in {month} and last around {num} weeks.
            A petition supporting the scheme has gathered more than {bignum} signatures.
            Local shop owner {name} said trade had already picked up since the plans were announced.
            The council has promised to publish a detailed timetable before work starts.
            Several speakers asked whether the money could be better spent elsewhere.
            Officials insisted that the money comes from a grant reserved for this purpose.
            Residents can view the drawings at {venue} until the end of the month.
            The proposal was first raised by a group of parents in {year}.
            A temporary diversion will be signposted while the work is carried out.
            Police attended the meeting but reported no problems.
            The final decision rests with the planning committee, which meets next {weekday}.
            Questions about long-term maintenance costs remain unanswered.
            Older residents said they hoped the project would be accessible to everyone.
            A spokesperson for the contractor promised to work with neighbours to limit disruption.
            The {town} Chamber of Commerce has backed the plans in a short statement.
            Comments can be submitted online or in writing to the town clerk.
            It is the largest investment in the area for more than a decade.
            Not everyone at the meeting was opposed, and several speakers were applauded.
            Local historians have asked that original features be preserved where possible.
            The council says the first phase should be finished before the school holidays.
            Many residents first heard about {project} on social media rather than from the council.
            A second consultation will be held if the plans change significantly.
            Independent councillor {name} called the process rushed and confusing.
            Supporters point to similar schemes in neighbouring towns that have worked well.
            The meeting ended shortly after nine o'clock with a show of hands.
            The Courier will continue to follow the story as it develops.
        """),
        bullets=(
            "Key dates in the timetable:",
            lines("""
                public consultation closes at the end of the month
                planning committee vote next season
                contractor appointed in the spring
                first phase completed before the summer holidays
                official opening planned for the autumn
            """),
        ),
        table=Table(
            "Budget breakdown",
            ["Item", "Estimate (£k)", "Spent so far (£k)"],
            ["Design", "Materials", "Labour", "Contingency"],
            [(20, 120), (0, 20)],
        ),
    ),
    Topic(
        name="software",
        lang="en",
        anchor="practice",
        anchors=lines("""
            database migrations
            code review
            type checking
            caching
            feature flags
            integration tests
            dependency updates
            structured logging
        """),
        titles=lines("""
            Lessons from a year of {practice} in a small team
            A practical introduction to {practice}
            How we stopped dreading {practice}
            The hidden costs of ignoring {practice}
            Getting {practice} right without the ceremony
            What changed when we took {practice} seriously
            A checklist for {practice} before every release
            Why {practice} matters more than your framework
        """),
        slots={
            "language": ["Python", "Go", "TypeScript", "Rust", "Java"],
            "teamsize": ["four", "six", "eight", "twelve"],
            "tool": lines("""
                a small shell script
                our continuous integration server
                a pre-commit hook
                a shared dashboard
            """),
        },
        sentences=lines("""
            Our {teamsize} engineers look after a few services written mostly in {language}.
            For a long time we treated {practice} as something to deal with later.
            A routine release once took down our checkout page for an hour.
            The fix for that outage was small; the lesson was not.
            We started by writing down what we actually did, step by step, for a week.
            Automating the boring parts with {tool} removed most of the mistakes.
            Nobody enjoys reading a long document, so we kept the guidelines to a single page.
            Reviews got faster once we agreed on what was worth commenting on.
            It is tempting to adopt every new tool at once, but we changed one thing at a time.
            Our lead, {name}, insisted that every change be reversible.
            Measuring the time from commit to production gave us an honest baseline.
            The first month felt slower, and some people were openly sceptical.
            By the third month, incidents related to {practice} had almost disappeared.
            Good defaults matter more than clever configuration.
            We also learned to delete code that no longer earned its keep.
            Documentation lives next to the code, so it is updated in the same pull request.
            New team members now ship their first change within a couple of days.
            There is no single right answer, and what works for us may not suit a larger company.
            Error messages improved dramatically once we treated them as part of the interface.
            We run the full test suite on every change, which takes about {num} minutes.
            When something does go wrong, we write a short, blameless summary of what happened.
            The biggest gains came from removing steps rather than adding them.
            Small, frequent releases turned out to be far less risky than large ones.
            If you are starting out, pick the most painful problem and fix that first.
            We still argue about naming, and probably always will.
            {tool} now flags the most common mistakes before a human ever sees them.
            Pairing on tricky changes spread knowledge across the team.
            Most of our tooling is boring on purpose, and that is a feature.
            Looking back, the cultural change mattered more than any tool.
            We will share the scripts we use for {practice} in a follow-up post.
        """),
        bullets=(
            "Our release checklist now looks like this:",
            lines("""
                run the full test suite locally
                check that migrations can be reversed
                update the changelog
                tag the release in version control
                watch the error dashboard for fifteen minutes after deploying
            """),
        ),
        table=Table(
            "Incidents per quarter",
            ["Quarter", "Incidents", "Mean time to recover (min)"],
            ["Q1", "Q2", "Q3", "Q4"],
            [(0, 9), (8, 75)],
        ),
    ),
    Topic(
        name="gardening",
        lang="en",
        anchor="crop",
        anchors=lines("""
            tomatoes
            runner beans
            garlic
            strawberries
            courgettes
            sweet peas
            potatoes
            salad leaves
        """),
        titles=lines("""
            Growing {crop} in a small backyard
            A beginner's calendar for {crop}
            Why your {crop} might be struggling, and how to fix it
            Saving money by growing {crop} from seed
            Container tips for {crop}
            What I got wrong about {crop} last year
            Companion planting ideas for {crop}
            Harvesting and storing {crop}
        """),
        slots={
            "soil": ["heavy clay", "light sandy soil", "a raised bed", "a large pot"],
            "pest": ["slugs", "aphids", "pigeons", "vine weevils"],
        },
        sentences=lines("""
            I have grown {crop} on our small plot for {num} years now, with mixed success.
            The single most important thing is a sunny, sheltered spot.
            Our garden has {soil}, which needs plenty of compost every spring.
            Sow a few seeds indoors in {month} and keep them somewhere bright.
            {pest} are the main enemy, so check the plants every evening.
            Water deeply once or twice a week rather than a little every day.
            A layer of mulch keeps the soil moist and the weeds down.
            My neighbour {name} grows far better {crop} than I do, and happily shares advice.
            Do not be tempted to plant out too early; a late frost can undo weeks of work.
            Feeding with a homemade comfrey tea made a noticeable difference.
            Label everything, because you will forget what you planted where.
            Rotating beds each year helps to keep diseases from building up.
            Old plastic bottles make excellent cloches for young seedlings.
            Harvest little and often, which encourages the plants to keep producing.
            A rain butt paid for itself within a single summer.
            Last year the weather was so wet that half the crop rotted.
            Gardening clubs often swap seeds for free, so it is worth joining one.
            Netting is the simplest defence against {pest}.
            Keep a notebook; next year you will be glad you did.
            Even a few pots on a balcony can produce a surprising amount of {crop}.
            Thin out weak seedlings so that the strongest ones have room to grow.
            The allotment committee in {town} runs a useful workshop every spring.
            Bees and other pollinators are welcome visitors, so plant a few flowers nearby.
            Do not throw away damaged plants; most of them can go on the compost heap.
            Some varieties cope far better with {soil} than others.
            Watering in the morning gives leaves time to dry before nightfall.
            I learned the hard way that more fertiliser is not always better.
            Nothing tastes quite like {crop} picked an hour before dinner.
            Be patient: the first year is mostly about learning how your garden behaves.
            Share any surplus with neighbours; it is the best part of having a garden.
        """),
        bullets=(
            "Jobs for this month:",
            lines("""
                turn the compost heap
                clean and sharpen tools
                order seeds for next season
                check stored crops for rot
                mend fences and netting
                plan where each crop will go
            """),
        ),
        table=Table(
            "Harvest log",
            ["Bed", "Week 1 (kg)", "Week 2 (kg)", "Week 3 (kg)"],
            ["Bed A", "Bed B", "Greenhouse", "Pots"],
            [(1, 6), (2, 9), (1, 12)],
        ),
    ),
    Topic(
        name="history",
        lang="en",
        anchor="landmark",
        anchors=lines("""
            the old corn mill
            the railway station
            the harbour lighthouse
            the market cross
            the Victorian school house
            the canal basin
            the parish records
            the town's first fire brigade
        """),
        titles=lines("""
            The forgotten story of {landmark}
            How {landmark} shaped our town
            Looking back: {landmark} through the years
            New documents reveal more about {landmark}
            Local historians trace the origins of {landmark}
            Memories of {landmark}, in residents' own words
            What remains of {landmark} today
            An exhibition on {landmark} opens this month
        """),
        slots={
            "century": ["eighteenth", "nineteenth", "early twentieth"],
            "archive": lines("""
                the county record office
                the parish chest
                a private family collection
                the local museum
            """),
        },
        sentences=lines("""
            The earliest mention of {landmark} appears in a document held at {archive}.
            Records from the {century} century describe a busy place employing dozens of people.
            Local historian {name} has spent years piecing the story together.
            Much of the original building was altered during later repairs.
            Old photographs show horses and carts queuing along the street outside.
            Some residents still remember their grandparents talking about {landmark}.
            A fire in the {century} century destroyed many of the earliest records.
            The town's fortunes rose and fell with changes in trade and transport.
            Letters held at {archive} give a vivid picture of daily life at the time.
            Not all of the stories passed down over the years can be confirmed.
            Children were often expected to work alongside their parents.
            Repairs in {oldyear} were paid for by public subscription.
            A new plaque now marks the spot where the original entrance once stood.
            The local history society has collected more than {bignum} photographs from residents.
            Maps from {oldyear} show the site surrounded by open fields.
            Historians disagree about exactly when the first structure was built.
            The arrival of the railway changed the town almost overnight.
            Wages were low, hours were long, and accidents were common.
            A small exhibition at the library brings together objects donated by local families.
            Volunteers have transcribed hundreds of handwritten pages so that anyone can read them.
            The story of {landmark} is, in many ways, the story of the town itself.
            Several entries in the old ledgers are still a mystery.
            Archaeologists found fragments of pottery and clay pipes during recent work nearby.
            It is easy to romanticise the past, but life was often hard.
            Descendants of the original families still live in the area.
            Anyone with old photographs or documents is encouraged to contact the society.
            Walking past today, it is hard to imagine how different the street once looked.
            A newspaper report from {oldyear} describes a crowd of several hundred at the opening.
            Without the work of volunteers, much of this history would have been lost.
            By the end of the {century} century, few of the original features survived.
        """),
        bullets=(
            "Highlights of the collection:",
            lines("""
                a hand-drawn map of the high street
                a ledger of wages paid to workers
                letters between two sisters who emigrated
                a brass bell from the original building
                a set of glass-plate photographs
            """),
        ),
        table=Table(
            "Population of the parish",
            ["Census year", "Households", "Residents"],
            ["1841", "1871", "1901", "1931"],
            [(120, 480), (600, 2400)],
        ),
    ),
    Topic(
        name="sports",
        lang="en",
        anchor="team",
        anchors=lines("""
            the Northfield Rovers
            the under-14 netball squad
            the Harlow Bay rowing club
            the Ashbury Cricket Club
            the town's women's football team
            the Stonecross running club
            the Millbrook Hockey Club
            the veterans' rugby side
        """),
        titles=lines("""
            A season to remember for {team}
            Narrow defeat for {team} in the county final
            Young players shine in the opening fixture for {team}
            Coach reflects on a difficult year for {team}
            New clubhouse plans for {team}
            Record turnout at the open day for {team}
            Volunteers keep {team} going
            Fundraising drive for {team} passes its target
        """),
        slots={"amount": ["£800", "£2,500", "£5,000", "£12,000"]},
        sentences=lines("""
            It was a cold, windy {weekday} afternoon, but the supporters turned out in good numbers.
            Coach {name} said afterwards that the result did not reflect how hard everyone worked.
            The early stages were tense, and nobody wanted to make the first mistake.
            Training attendance has doubled since the start of the season.
            {team} have relied on volunteers for almost everything, from coaching to washing kit.
            Several younger players were given their first taste of competition.
            A late injury forced a change of plans shortly before the start.
            Captain {name} was quick to praise the opposition.
            The club hopes to raise {amount} for new equipment by the end of the year.
            Membership fees have been frozen for another year to keep the sport affordable.
            Supporters brought flasks of tea and homemade cake, as they always do.
            The second half of the season looks much tougher on paper.
            Local businesses have stepped in to sponsor the new kit.
            Fitness has improved noticeably since the club changed its training schedule.
            It was the first time in {num} years that the club had reached this stage.
            Spectators are welcome at all home fixtures, and entry is free.
            Heavy rain earlier in the week left the ground in a difficult state.
            The committee is looking for new volunteers to help on event days.
            Several former members came back to watch and cheer.
            The youth section now has a waiting list for the first time.
            Results elsewhere in the league mean everything will be decided in the final weeks.
            Nobody at the club is getting carried away just yet.
            Coaches have been working hard on the basics during the winter break.
            A minute's applause was held before the start in memory of a long-serving groundskeeper.
            {name}, who joined the club aged seven, made a hundredth appearance this season.
            The club thanked the referees and officials, who give up their weekends for free.
            New members of all abilities are encouraged to come along to a training session.
            Next up is an away trip to {town}, usually one of the hardest fixtures of the year.
            Whatever happens, the season has already been a success off the field.
            Full results and the updated table are on the noticeboard outside the clubhouse.
        """),
        bullets=(
            "Upcoming fixtures:",
            lines("""
                away at Ashbury next Saturday
                home against Millbrook the following week
                cup quarter-final later this month
                end-of-season awards evening in the clubhouse
            """),
        ),
        table=Table(
            "League standings",
            ["Team", "Played", "Won", "Points"],
            ["Northfield", "Ashbury", "Millbrook", "Harlow Bay"],
            [(14, 16), (3, 12), (9, 36)],
        ),
    ),
    Topic(
        name="finance",
        lang="en",
        anchor="money",
        anchors=lines("""
            emergency savings
            index funds
            household budgets
            mortgage overpayments
            pension contributions
            credit card debt
            energy bills
            saving for a first home
        """),
        titles=lines("""
            A plain-English guide to {money}
            How one family got on top of {money}
            Five questions to ask yourself about {money}
            Common myths about {money}
            Is now a good time to think about {money}?
            What rising prices mean for {money}
            Small steps that make a big difference to {money}
            Readers share their experiences with {money}
        """),
        slots={"percent": ["2%", "3.5%", "5%", "10%"]},
        sentences=lines("""
            Money worries are among the most common reasons people give for losing sleep.
            The good news is that a few simple habits can make {money} much less stressful.
            Financial adviser {name} suggests first finding out where your money goes.
            Write down every regular payment, however small.
            Many households find that subscriptions they no longer use add up quickly.
            Even putting aside {percent} of your income can build a useful cushion over time.
            Automating payments on payday removes the temptation to spend first.
            It is worth comparing providers at least once a year.
            Interest rates have changed several times since {year}, so older advice may be outdated.
            Nobody should feel embarrassed about asking for help.
            Free, impartial guidance is available from a number of charities.
            Be wary of anyone promising guaranteed returns.
            One reader told us that tackling {money} was the first step towards feeling in control.
            Fees that look small can eat into long-term savings.
            A spreadsheet is useful, but a notebook works just as well.
            Review your plan whenever your circumstances change.
            Couples often find it helpful to talk about money at a set time each month.
            There is no perfect moment to start, so start with whatever you can manage.
            Paying off the most expensive debt first usually saves the most money.
            Keep important documents together in one safe place.
            Inflation erodes the value of cash left in a low-interest account.
            The figures in this article are illustrative and are not personal advice.
            {name}, a teacher from {town}, said the process was less painful than expected.
            Small wins, such as cancelling one unused subscription, help to keep motivation up.
            It also helps to decide in advance what counts as a genuine emergency.
            Online calculators can give a rough idea of what different choices might mean.
            Employers sometimes offer schemes that are worth far more than they first appear.
            Above all, be honest with yourself about what you can afford.
            Making a plan is easy; sticking to it is the hard part.
            If in doubt, speak to a qualified, regulated adviser before making big decisions.
        """),
        bullets=(
            "A simple monthly routine:",
            lines("""
                check your bank statements line by line
                move a fixed amount into savings
                note any unusual spending
                review upcoming bills
                set one small goal for next month
            """),
        ),
        table=Table(
            "Example monthly budget",
            ["Category", "Planned (£)", "Actual (£)"],
            ["Housing", "Food", "Transport", "Savings"],
            [(150, 900), (150, 950)],
        ),
    ),
    Topic(
        name="health",
        lang="en",
        anchor="habit",
        anchors=lines("""
            a daily walk
            a regular sleep routine
            morning stretching
            better hydration
            home cooking
            strength training
            a lower-sugar diet
            regular screen breaks
        """),
        titles=lines("""
            The case for {habit}
            What the evidence says about {habit}
            How I made {habit} stick
            Small changes: getting started with {habit}
            Doctors answer your questions about {habit}
            Why {habit} is easier than you think
            A four-week plan for {habit}
            Myths and facts about {habit}
        """),
        sentences=lines("""
            Most of us know what we ought to do; the hard part is actually doing it.
            Family doctor Dr {name} says that small, steady changes beat dramatic resolutions.
            Linking {habit} to something you already do every day helps it last.
            Start small enough that it feels almost too easy.
            Progress is rarely a straight line, and setbacks are normal.
            Sleep, diet and activity all affect one another.
            Tracking your progress in a simple diary can be surprisingly motivating.
            If you have an existing condition, check with a doctor before making big changes.
            Research suggests that the benefits appear within a few weeks for many people.
            {name}, a reader from {town}, told us that {habit} had changed their mornings.
            Friends and family can be a great source of encouragement.
            There is no need for expensive equipment or memberships.
            Expect the first week to feel awkward.
            Rest days are just as important as active ones.
            Listen to your body, and stop if something hurts.
            Many people find that mood and concentration improve along with physical health.
            Pair the new habit with something you already enjoy.
            Forget perfection; consistency is what matters.
            Local health centres often run free sessions for beginners.
            Children tend to copy the habits they see at home.
            A little planning on {weekday} can make the rest of the week easier.
            Be sceptical of products that promise quick results.
            Even ten minutes a day adds up to more than an hour a week.
            Some days will be harder than others, and that is fine.
            Talk to a pharmacist if you are unsure about supplements.
            The best routine is the one you will actually keep.
            It took me about {num} weeks before {habit} felt automatic.
            Write down why the change matters to you and keep the note somewhere visible.
            Health advice changes as new evidence emerges, so stay curious.
            This article is for general information and is not a substitute for medical advice.
        """),
        bullets=(
            "Tips for getting started:",
            lines("""
                choose a fixed time of day
                start with five minutes
                tell a friend about your plan
                keep a simple log
                reward yourself after the first month
            """),
        ),
        table=Table(
            "Sample weekly plan",
            ["Day", "Minutes", "Effort (1-10)"],
            ["Monday", "Wednesday", "Friday", "Sunday"],
            [(10, 45), (2, 7)],
        ),
    ),
]

GERMAN_TOPICS = [
    Topic(
        name="lokales",
        lang="de",
        titles=lines("""
            Stadtrat beschließt neuen Radweg entlang der Aue
            Sanierung des Freibads verzögert sich
            Wochenmarkt zieht an den Rathausplatz um
            Bürgerversammlung zur neuen Bücherei gut besucht
        """),
        sentences=lines("""
            Der Stadtrat von {town} hat sich am {weekday}abend lange mit dem Vorhaben beschäftigt.
            Im Rathaus sprach man von einem wichtigen Schritt für die ganze Stadt.
            Nicht alle Anwohner sind von den Plänen überzeugt.
            Einige befürchten mehr Verkehr und Lärm während der Bauarbeiten.
            Andere sagen, {town} habe viel zu lange auf eine solche Verbesserung gewartet.
            Die Arbeiten sollen im {month} beginnen und rund {num} Monate dauern.
            Die Kosten werden zum größten Teil aus Fördermitteln des Landes gedeckt.
            Bei der Sitzung im Gemeindesaal waren mehr als hundert Bürgerinnen und Bürger anwesend.
            Mehrere Redner wollten wissen, wer die laufenden Kosten übernimmt.
            Die Verwaltung will die Pläne in den kommenden Wochen im Internet veröffentlichen.
            Der Einzelhändler {name} hofft auf mehr Kundschaft in der Innenstadt.
            Während der Bauzeit wird eine Umleitung ausgeschildert.
            Eine Unterschriftenliste für das Projekt hat bereits viele Unterstützer gefunden.
            Die endgültige Entscheidung fällt im Bauausschuss, der im {month} wieder tagt.
            Ältere Menschen wünschen sich vor allem barrierefreie Zugänge.
            Der Heimatverein bittet darum, historische Details möglichst zu erhalten.
            Viele Bürger erfuhren von dem Vorhaben zuerst über soziale Netzwerke.
            Die Stadt will nach Abschluss der Arbeiten eine Bilanz ziehen.
            Nach gut zwei Stunden endete die Versammlung mit einer Abstimmung per Handzeichen.
            Das Tagblatt wird weiter über die Entwicklung berichten.
            Kritiker bemängeln, dass die Bürger zu spät beteiligt worden seien.
            Befürworter verweisen auf ähnliche Projekte in Nachbarorten, die sich bewährt haben.
        """),
    ),
    Topic(
        name="wandern",
        lang="de",
        titles=lines("""
            Herbstwanderung rund um den Lindensee
            Mit der Familie auf den Hohen Kamm
            Radtour entlang der alten Bahntrasse
            Geheimtipp: Das stille Tal hinter {town}
        """),
        slots={
            "km": ["sieben", "neun", "zwölf", "vierzehn"],
            "hours": ["drei", "vier", "fünf"],
        },
        sentences=lines("""
            Der Rundweg ist gut ausgeschildert und auch für Anfänger geeignet.
            Wir starteten früh am Morgen am Parkplatz hinter dem Bahnhof von {town}.
            Festes Schuhwerk ist zu empfehlen, denn nach Regen wird der Weg schnell rutschig.
            Nach etwa einer Stunde erreicht man eine kleine Hütte mit herrlichem Ausblick.
            Eine Einkehrmöglichkeit gibt es unterwegs nicht, deshalb sollte man Proviant mitnehmen.
            Die gesamte Strecke ist ungefähr {km} Kilometer lang.
            Im Frühjahr blühen am Wegesrand unzählige Buschwindröschen.
            Ortskundige wie {name} kennen hier jede Abzweigung.
            Für Kinder gibt es unterwegs einen Spielplatz und mehrere Rastplätze.
            Wer mit dem Zug anreist, spart sich die Parkplatzsuche.
            Am Wochenende ist der Weg deutlich belebter als unter der Woche.
            Der steilste Abschnitt liegt gleich zu Beginn, danach wird es gemütlicher.
            Hunde müssen im Naturschutzgebiet an der Leine geführt werden.
            Bei klarem Wetter sieht man vom Gipfel aus weit ins Land hinein.
            Die Wanderkarte des Verkehrsvereins ist im Rathaus kostenlos erhältlich.
            Im {month} ist es oft noch kühl, eine warme Jacke gehört deshalb in den Rucksack.
            Für die Strecke sollte man mit Pausen etwa {hours} Stunden einplanen.
            Am Ende der Tour lohnt sich ein Abstecher in die kleine Bäckerei am Marktplatz.
            Viele Wege wurden in den letzten Jahren von Ehrenamtlichen neu markiert.
            Mit etwas Glück entdeckt man am Waldrand Rehe oder einen Fuchs.
            Bitte nehmen Sie Ihren Müll wieder mit und bleiben Sie auf den Wegen.
            Wer es ruhiger mag, sollte an einem {weekday} unterwegs sein.
        """),
    ),
    Topic(
        name="kochen",
        lang="de",
        titles=lines("""
            Omas Apfelkuchen: Ein Rezept, das nie enttäuscht
            Schnelle Kartoffelsuppe für kalte Tage
            Spargelzeit: So gelingt das Gemüse
            Brot backen ohne Stress
        """),
        sentences=lines("""
            Das Rezept stammt aus einem alten Kochbuch, das seit Jahrzehnten in der Familie bleibt.
            Wichtig ist, dass alle Zutaten Zimmertemperatur haben.
            Wer möchte, kann etwas mehr Salz oder frische Kräuter hinzufügen.
            Die Zubereitung dauert kaum länger als eine halbe Stunde.
            Regionale Zutaten vom Wochenmarkt schmecken meist am besten.
            {name} aus {town} hat uns verraten, wie das Gericht in der Familie zubereitet wird.
            Reste lassen sich problemlos einfrieren.
            Am besten schmeckt es frisch und noch warm.
            Ein scharfes Messer erleichtert die Arbeit erheblich.
            Geduld zahlt sich aus, denn der Teig braucht Zeit zum Ruhen.
            Dazu passt ein einfacher grüner Salat.
            Kinder helfen in der Küche meist gern mit.
            Statt Butter kann man auch ein mildes Pflanzenöl verwenden.
            Im Backofen sollte man das Gericht gegen Ende im Auge behalten.
            Ein Spritzer Zitronensaft sorgt für Frische.
            Die Mengenangaben reichen für vier Personen.
            Wer es eilig hat, kann den Teig schon am Vorabend vorbereiten.
            Gewürze sollte man sparsam einsetzen und lieber nachwürzen.
            Das Gericht ist günstig und trotzdem festlich genug für Gäste.
            Viele Leser schicken uns ihre eigenen Varianten, über die wir uns sehr freuen.
            Übrig gebliebene Kräuter lassen sich klein gehackt in etwas Öl einfrieren.
            Mit frischen Zutaten gelingt das Rezept fast immer.
        """),
    ),
]

FRENCH_TOPICS = [
    Topic(
        name="vie-locale",
        lang="fr",
        titles=lines("""
            Le conseil municipal approuve la rénovation de la médiathèque
            Un nouveau marché de producteurs à {town}
            Travaux sur le pont : les habitants s'organisent
            La fête du village attire un public nombreux
        """),
        sentences=lines("""
            Le projet a été présenté {weekday} soir devant une salle comble.
            Selon le maire, il s'agit d'un investissement important pour l'avenir de la commune.
            Certains riverains craignent davantage de bruit et de circulation pendant les travaux.
            D'autres estiment que {town} attendait ce changement depuis longtemps.
            Les travaux devraient commencer en {month} et durer environ {num} mois.
            Une grande partie du financement provient de subventions régionales.
            Plusieurs habitants ont demandé qui prendrait en charge les frais d'entretien.
            La mairie s'est engagée à publier un calendrier détaillé dans les prochaines semaines.
            {name}, qui tient un commerce sur la place du marché, espère voir revenir les clients.
            Une déviation sera mise en place pendant toute la durée du chantier.
            Les associations locales ont salué une décision attendue.
            Les personnes âgées souhaitent surtout des accès adaptés.
            Une pétition en faveur du projet a déjà recueilli de nombreuses signatures.
            La décision finale sera prise lors du prochain conseil municipal.
            Beaucoup d'habitants ont appris la nouvelle sur les réseaux sociaux.
            La réunion s'est terminée peu avant vingt-deux heures.
            Les opposants dénoncent un manque de concertation.
            Les partisans citent des communes voisines où des projets semblables ont réussi.
            Le journal continuera de suivre ce dossier de près.
            Les plans peuvent être consultés à la mairie jusqu'à la fin du mois.
            Les élèves de l'école primaire ont même présenté leurs propres dessins du projet.
            Pour beaucoup, c'est avant tout une question de qualité de vie.
        """),
    ),
    Topic(
        name="cuisine",
        lang="fr",
        titles=lines("""
            La vraie recette de la tarte aux pommes de grand-mère
            Une soupe de légumes pour les soirs d'hiver
            Réussir un gratin dauphinois sans stress
        """),
        sentences=lines("""
            Cette recette se transmet dans la famille depuis plusieurs générations.
            Il est préférable de sortir les ingrédients du réfrigérateur à l'avance.
            Une pincée de sel suffit pour relever les saveurs.
            La préparation prend à peine une demi-heure.
            Les produits du marché donnent toujours un meilleur résultat.
            {name}, qui habite à {town}, nous a confié son petit secret.
            Les restes se conservent deux ou trois jours au frais.
            Le plat est encore meilleur servi bien chaud.
            Un bon couteau facilite beaucoup le travail.
            Il faut laisser reposer la pâte au moins une heure.
            On peut l'accompagner d'une salade verte toute simple.
            Les enfants adorent participer à la préparation.
            Le beurre peut être remplacé par une huile douce.
            Surveillez la cuisson pendant les dernières minutes.
            Un filet de jus de citron apporte de la fraîcheur.
            Les quantités indiquées conviennent pour quatre personnes.
            C'est un plat économique, mais assez élégant pour recevoir des amis.
            Mieux vaut saler peu au début et rectifier à la fin.
            Nos lecteurs nous envoient souvent leurs propres variantes.
            Avec des ingrédients frais, la recette réussit presque à tous les coups.
            Un four bien préchauffé fait toute la différence.
        """),
    ),
    Topic(
        name="voyage",
        lang="fr",
        titles=lines("""
            Trois jours à Lyon sans se ruiner
            Randonnée sur les sentiers côtiers de Bretagne
            Un week-end au calme dans le Jura
        """),
        slots={"km": ["douze", "quinze", "vingt", "trente"]},
        sentences=lines("""
            Nous sommes arrivés en train un {weekday} soir, sans programme précis.
            La vieille ville se découvre à pied, de préférence tôt le matin.
            Notre hôte nous a donné de meilleurs conseils que n'importe quel guide.
            Hors saison, les prix sont plus doux et les rues plus calmes.
            Prévoyez de bonnes chaussures, car certains chemins sont escarpés.
            Le marché du samedi est un moment à ne pas manquer.
            Les musées ferment souvent un jour par semaine, pensez à vérifier les horaires.
            Quelques mots de la langue locale font toujours plaisir.
            Le bus régional dessert la plupart des villages alentour.
            Le coucher de soleil sur le port valait largement l'attente.
            Nous avons dormi dans une petite maison d'hôtes tenue par une famille accueillante.
            La météo peut changer très vite, emportez un vêtement chaud.
            Un pique-nique acheté au marché a été l'un des meilleurs repas du séjour.
            Les sentiers sont bien balisés et accessibles aux familles.
            Nous avons parcouru environ {km} kilomètres à pied en deux jours.
            L'office de tourisme propose des cartes gratuites et des conseils précieux.
            Les soirées étaient calmes, ce qui nous convenait parfaitement.
            Avec le recul, ce sont les détours imprévus qui restent les meilleurs souvenirs.
            Au café du village, {name} nous a indiqué une crique magnifique.
            Il vaut mieux réserver la première nuit et improviser ensuite.
            Le train régional est souvent plus pratique que la voiture.
        """),
    ),
]

SPANISH_TOPICS = [
    Topic(
        name="viajes",
        lang="es",
        titles=lines("""
            Tres días en Sevilla con poco presupuesto
            Ruta por los pueblos blancos de la sierra
            Un fin de semana tranquilo en la costa gallega
            Cómo recorrer el norte en tren
        """),
        slots={"money": ["40", "55", "60", "75"]},
        sentences=lines("""
            Llegamos un {weekday} por la tarde, sin un plan fijo y con una mochila pequeña.
            El casco antiguo se recorre mejor a pie y temprano por la mañana.
            Nuestra anfitriona nos dio mejores consejos que cualquier guía.
            En temporada baja los precios bajan y las calles están más tranquilas.
            Conviene llevar calzado cómodo, porque muchas calles son empinadas.
            El mercado municipal es una parada obligatoria para comer bien y barato.
            Muchos museos cierran un día a la semana, así que es mejor consultar los horarios.
            Aprender algunas palabras del idioma local siempre se agradece.
            El autobús regional comunica casi todos los pueblos de la zona.
            La puesta de sol desde el puerto mereció la espera.
            Nos alojamos en una pequeña pensión familiar cerca de la estación.
            El tiempo cambia rápido, así que siempre llevábamos una chaqueta.
            Gastamos unos {money} € al día, incluido el alojamiento.
            Los senderos están bien señalizados y son aptos para familias.
            {name} nos recomendó un restaurante que no aparece en ninguna guía.
            La oficina de turismo ofrece mapas gratuitos y consejos muy útiles.
            Las noches eran tranquilas, justo lo que necesitábamos después de caminar tanto.
            Mirando atrás, los desvíos improvisados fueron lo mejor del viaje.
            ¿Lo mejor? Perderse sin prisa por las callejuelas.
            Es mejor reservar la primera noche y decidir el resto sobre la marcha.
            El tren regional resultó más cómodo y barato de lo que esperábamos.
        """),
    ),
    Topic(
        name="cocina",
        lang="es",
        titles=lines("""
            La tortilla de patatas de mi abuela
            Gazpacho fresco para los días de calor
            Lentejas de toda la vida, paso a paso
            Un arroz al horno sencillo para el domingo
        """),
        sentences=lines("""
            Esta receta ha pasado de generación en generación en nuestra familia.
            Lo importante es usar ingredientes frescos y de temporada.
            Una pizca de sal basta para realzar el sabor.
            La preparación apenas lleva media hora.
            {name}, que vive en {town}, nos contó su pequeño secreto.
            Las sobras se conservan dos o tres días en la nevera.
            Está todavía mejor si se deja reposar unos minutos.
            Un buen cuchillo facilita mucho el trabajo.
            Se puede acompañar con una ensalada verde sencilla.
            A los niños les encanta ayudar en la cocina.
            El aceite de oliva virgen extra marca la diferencia.
            Hay que vigilar el fuego durante los últimos minutos.
            Las cantidades indicadas son para cuatro personas.
            Es un plato económico, pero lo bastante vistoso para recibir invitados.
            Mejor poner poca sal al principio y rectificar al final.
            Nuestros lectores nos envían a menudo sus propias versiones.
            Con paciencia y buen producto, el resultado casi nunca falla.
            Cada casa tiene su truco, y todos defienden el suyo con pasión.
            Si sobra, se puede congelar en raciones pequeñas.
            ¿Con cebolla o sin cebolla? El debate sigue abierto en muchas cocinas.
        """),
    ),
]

TOPICS = {
    topic.name: topic
    for topic in [*ENGLISH_TOPICS, *GERMAN_TOPICS, *FRENCH_TOPICS, *SPANISH_TOPICS]
}

COMMENTS = {
    "en": lines("""
        Really useful, thank you for writing this up.
        I tried this last weekend and it worked a treat.
        Interesting read, although I am not sure I agree with every point.
        My family has done it this way for years, nice to see it written down.
        Does anyone know if this applies outside the UK as well?
        Great article. Bookmarked for later.
        This is exactly the kind of reporting we need more of.
        I would love a follow-up piece on this.
        Shared with my neighbours, thanks.
        Not convinced, but I appreciate the balanced write-up.
        We had the same experience last year.
        Could you add a printable version?
        First time commenting, long-time reader. Keep it up!
        The photos in the print edition were lovely.
        Thanks for mentioning the volunteers, they deserve it.
        Clear and sensible advice, as always.
        I learned something new today.
        Has anything changed since this was written?
    """),
    "de": lines("""
        Sehr schöner Artikel, vielen Dank!
        Haben wir letztes Wochenende ausprobiert, sehr zu empfehlen.
        Ich sehe das etwas anders, aber gut geschrieben.
        Endlich berichtet mal jemand darüber.
        Gibt es dazu auch eine Karte?
        Danke für die Tipps!
    """),
    "fr": lines("""
        Merci pour cet article très intéressant.
        Nous avons essayé ce week-end, c'était parfait.
        Je ne suis pas tout à fait d'accord, mais c'est bien écrit.
        Enfin un article sur ce sujet !
        Est-ce qu'il existe une carte des sentiers ?
        Merci pour les conseils !
    """),
    "es": lines("""
        Muy buen artículo, ¡gracias!
        Lo probamos el fin de semana y salió perfecto.
        No estoy del todo de acuerdo, pero está bien escrito.
        ¡Por fin alguien habla de esto!
        ¿Hay algún mapa de la ruta?
        Gracias por los consejos.
    """),
}

COMMENTERS = {
    "en": lines("""
        gardenfan72
        M. Okafor
        Ruth from Ashbury
        quietreader
        Tom_H
        bakingbeth
        Northfield Nick
        j.patel
        runner_sue
        old_timer_58
    """),
    "de": ["wanderfreund", "Petra K.", "nordheimer_jung", "Kochlöffel", "H. Brandt"],
    "fr": ["Marie L.", "randonneur44", "gourmand_du_sud", "P. Girard", "lectrice_fidele"],
    "es": ["Ana_viajera", "pepe.m", "cocinillas", "Laura G.", "montañero"],
}

# ---------------------------------------------------------------------------------------
# Text banks: pages with personal data (all fictional: example domains, drama/test numbers)
# ---------------------------------------------------------------------------------------


# Each section: "# topic | title [| at end]", then the paragraphs to insert into an article
# composed from that topic's bank. {card}, {iban_gb} and {iban_de} come from pii_values().
PII_TEXT = """
# gardening | Community garden appeals for new volunteers

Anyone who would like to help can contact the volunteer coordinator, Marla Testwood, by
e-mail at marla.testwood@example.org or by phone on (555) 014-2287. She is usually at the
garden gate on weekday mornings and is happy to show newcomers around.

# local | Lost wallet handed in at Northfield library

Staff said the wallet contained a driving licence, a few receipts and a bank card with the
number {card}. The owner, or anyone who recognises the description, can call the library
desk on 01632 960188 or write to lostproperty@example.com.

# software | Post-mortem: the Tuesday login outage

The logs showed that almost all of the failed requests came from a single address,
203.0.113.42, which turned out to be a forgotten load-testing machine. It had been set up by
a former contractor whose details, devops.contractor@example.net and +1 (555) 013-9042, were
still listed in the runbook.

Anyone who saw errors during that window can send details to incident-review@example.com so
that we can check our timeline.

# local | Food bank winter appeal raises hopes

Donations can be made by bank transfer to the Northfield Community Food Bank, IBAN
{iban_gb}, using the reference WINTER. To arrange a collection of tinned food, call the depot
on +44 20 7946 0123 or e-mail donate@example.org.

# finance | How to spot a fake bank text message

One reader, Jordan Sample, forwarded us a message that claimed to come from his bank and
asked him to call +1 (555) 010-7733 to unlock his account. A second message, sent from
security-alerts@example.net, even quoted the last four digits of his card.

# finance | Tax preparer fined after client files were left online

Among the exposed documents was a return for a client named John Q. Example, which showed his
Social Security number, 536-22-1847, together with his home phone number, 555-010-4821, and
his e-mail address, john.q.example@example.com.

The firm has since contacted everyone affected and offered free credit monitoring.

# travel | A quiet week in Berlin's side streets

We stayed in a small guesthouse run by Erika Mustermann, who can be reached on
+49 30 1234 5678 or, from within Germany, on 030 12345678. Bookings by e-mail go to
pension.linde@example.com, and she usually replies within a day.

# travel | Learning to cook in a Paris apartment

The classes are run by Camille Exemple from her apartment. Reservations can be made on
+33 1 99 00 42 17, by text message to 06 39 98 12 34, or by e-mail to
atelier.camille@example.org.

# health | New evening clinic opens in Ashbury

Appointments can be booked by calling (555) 016-3390 or by e-mailing
appointments@example.org. The practice manager, Alex Placeholder, has asked that urgent
queries go directly to alex.placeholder@example.org.

# sports | Junior rugby registration opens for the new season

Parents should send the completed form to the club secretary, Sam Testington, at
secretary.rugby@example.com, or call 07700 900461 in the evenings. Anyone who would rather
talk to a coach can ring +44 7700 900872.

# history | Letter: memories of the old corn mill | at end

Yours sincerely, Margaret Example, 14 Sample Street, Northfield NF1 2AB. Telephone
01632 960555, e-mail m.example@example.org.

# software | Setting up payments for our first German customers

In the staging configuration we used the sample account IBAN {iban_de} for a fictional
customer, Max Mustermann, whose support contact was max.mustermann@example.com and
+49 (0)89 1234567.

Callbacks from the payment provider arrived from 198.51.100.7, so we added that address to
the allow-list for the webhook endpoint.
"""

# ---------------------------------------------------------------------------------------
# Text banks: spam and low-quality pages
# ---------------------------------------------------------------------------------------

SPAM_SUFFIXES = ["!!!", "- click here", "| order today", "- limited offer", "- 70% off", "$$$"]

WATCH_KEYWORDS = lines("""
    cheap watches
    best price
    buy now
    discount watches
    luxury watches cheap
    watches sale
    free shipping
    replica watches
    cheap watches online
    best watches deal
""")

LOAN_KEYWORDS = lines("""
    fast loans
    bad credit ok
    instant approval
    cash today
    payday loans
    no credit check
    loans online
    cheap loans
    same day cash
    apply now
""")

DIET_KEYWORDS = lines("""
    lose weight fast
    diet pills
    miracle diet
    burn fat now
    best diet pills
    weight loss secret
    cheap diet pills
    order now
    fast results
    100% natural
""")

DIRECTORY_CATEGORIES = lines("""
    Accounting
    Air travel
    Antiques
    Apartments
    Auto parts
    Baby products
    Banking
    Bathrooms
    Beauty
    Bicycles
    Boats
    Books
    Camping
    Car hire
    Carpets
    Catering
    Cleaning
    Computers
    Cosmetics
    Dentists
    Electricians
    Fashion
    Fitness
    Flowers
    Furniture
    Gifts
    Hotels
    Insurance
    Jewellery
    Kitchens
    Lawyers
    Mortgages
    Music
    Pets
    Plumbers
    Roofing
    Shoes
    Taxis
    Toys
    Web hosting
    Weddings
    Windows
""")

LOREM_TEXT = (
    "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt "
    "ut labore et dolore magna aliqua enim ad minim veniam quis nostrud exercitation ullamco "
    "laboris nisi aliquip ex ea commodo consequat duis aute irure in reprehenderit voluptate "
    "velit esse cillum fugiat nulla pariatur excepteur sint occaecat cupidatat non proident "
    "sunt culpa qui officia deserunt mollit anim id est laborum"
)

JS_TEMPLATES = lines("""
    function {fn}({arg}) {{ if (!{arg}) {{ return null; }} return {arg}.{prop} || {{}}; }}
    var {var} = document.getElementById("{prop}"); if ({var}) {{ {var}.onclick = {fn}; }}
    window.{obj} = window.{obj} || []; window.{obj}.push({{ event: "{prop}", value: {num} }});
    for (var i = 0; i < {num}; i++) {{ {var}[i] = ({var}[i] || 0) + {arg}.length; }}
    if (typeof {obj} === "undefined") {{ var {obj} = {{ {prop}: {num}, ready: false }}; }}
    {obj}.{prop} = function ({arg}) {{ return {arg}.map(function (x) {{ return x * {num}; }}); }};
    try {{ {fn}(JSON.parse({arg})); }} catch (err) {{ console.error("{prop}", err); }}
""")

JS_NAMES = {
    "fn": ["initWidget", "loadTracker", "renderSlot", "setupMenu", "fetchConfig", "bindEvents"],
    "arg": ["opts", "cfg", "data", "node", "payload"],
    "var": ["el", "state", "cache", "buf", "ctx"],
    "prop": ["banner", "sidebar", "consent", "adSlot", "header", "promo"],
    "obj": ["_queue", "siteApp", "__cfg", "adLayer", "Tracker"],
    "num": ["0", "1", "3", "16", "250", "1024"],
}

PRIZE_LINES = lines("""
    Congratulations! You have been selected as today's lucky visitor!
    Click here to claim your free prize now!
    This offer expires in 10 minutes. Do not close this page!
""")

DOORWAY_CITIES = lines("""
    Springfield
    Riverside
    Fairview
    Greenville
    Franklin
    Clinton
    Madison
    Georgetown
    Salem
    Bristol
    Dover
    Oxford
    Ashland
    Milton
    Newport
    Burlington
    Clayton
    Hudson
    Kingston
    Marion
    Auburn
    Dayton
    Lexington
    Winchester
""")

PDF_LINES = lines("""
    Northfield Courier Community Trust
    Annual report 2023
    This short report summarises the trust's work during the year.
    Volunteers delivered the paper to housebound readers every week.
    The reading room at the library was refurbished with donated funds.
    Accounts are available from the trust secretary on request.
""")

# ---------------------------------------------------------------------------------------
# Text bank: encyclopedia articles for wiki.jsonl ("# Title", then paragraphs)
# ---------------------------------------------------------------------------------------

WIKI_TEXT = """
# Lighthouse

A lighthouse is a tower or other structure that carries a light to guide ships at sea or on
inland waterways. Lighthouses mark dangerous coastlines, shoals and reefs, and the entrances
to harbours.

Early lighthouses used open fires or candles, which were weak and difficult to maintain. Oil
lamps with reflectors improved matters, and in the nineteenth century the Fresnel lens, built
from many concentric prisms, allowed a modest flame to be seen many kilometres away.

Each lighthouse usually has its own pattern of flashes, known as its characteristic, so that
sailors can identify it at night. By day, towers are often painted in bands or stripes for
the same purpose.

Most lighthouses today are automated and no longer need resident keepers. Satellite
navigation has reduced their importance, but many remain in service as a backup and are
valued as historic buildings.

# Sourdough

Sourdough is bread leavened by a culture of wild yeasts and lactic acid bacteria rather than
by commercially produced baker's yeast. The culture, often called a starter, is a mixture of
flour and water that is fed regularly to keep it active.

The bacteria in the starter produce lactic and acetic acids, which give the bread its sour
flavour and help it keep longer. The yeasts produce carbon dioxide, which makes the dough
rise, although more slowly than with baker's yeast.

For thousands of years this was the usual way of leavening bread, long before cultivated
yeast became widely available. Rye breads in northern and eastern Europe depend on the
acidity in particular, because rye dough behaves differently from wheat dough.

Home baking of sourdough has seen several revivals. Bakers often describe their starters with
affection, and some starters are said to have been kept alive for decades.

# Tide

Tides are the regular rise and fall of sea level caused mainly by the gravitational pull of
the Moon and the Sun, combined with the rotation of the Earth.

Most coasts experience two high tides and two low tides roughly every day, although some
places have only one of each. The interval between successive high tides is a little over
twelve hours, so high water arrives later each day.

When the Sun, Moon and Earth are roughly aligned, at new and full moon, their effects combine
to produce spring tides with a large range. At the quarter moons the effects partly cancel,
giving neap tides with a smaller range.

The shape of the coastline and the sea floor strongly affects local tides. Some bays and
estuaries funnel the water and produce very large tidal ranges, while nearly enclosed seas
such as the Mediterranean have very small ones.

Tide tables, calculated in advance from long records, are used by sailors, fishers and anyone
walking on beaches or mudflats.

# Abacus

An abacus is a calculating tool made of a frame holding rods or wires on which beads are
moved by hand. It has been used for arithmetic in many parts of the world for centuries.

Different designs developed in different regions. The Chinese suanpan traditionally has two
beads above a dividing bar and five below on each rod, while the Japanese soroban has one
bead above and four below.

A skilled user can add, subtract, multiply and divide quickly, and some can also work out
square roots. In several countries the abacus is still taught to children, partly because it
is thought to build a strong sense of number.

Experienced users often learn to picture an abacus in their heads and calculate mentally, a
technique sometimes called mental abacus.

# Beekeeping

Beekeeping is the keeping of colonies of bees, usually honey bees, in hives looked after by
people. Beekeepers collect honey and beeswax, and many colonies are kept to pollinate crops.

A colony normally contains a single queen, many thousands of female worker bees and, in
summer, a number of male drones. The workers gather nectar and pollen, build wax comb, tend
the young and defend the hive.

Modern hives are usually built with removable frames, which let the beekeeper inspect the
colony without destroying the comb. Smoke is commonly used during inspections because it
calms the bees.

Beekeepers must manage pests and diseases, such as the varroa mite, and prevent or control
swarming, in which part of the colony leaves with the old queen to found a new nest.

# Glacier

A glacier is a large, persistent body of ice that forms where more snow accumulates each year
than melts, and that moves slowly under its own weight.

Over many years, buried snow is compressed into dense glacial ice. When the ice becomes thick
enough it begins to flow, deforming internally and sliding over its bed.

Glaciers are powerful agents of erosion. They carve U-shaped valleys, sharpen mountain peaks
and carry rock debris that is later deposited as moraines.

Most of the world's fresh water is stored as ice in glaciers and ice sheets. Many mountain
glaciers have retreated markedly since the late nineteenth century, and their meltwater is
important for rivers during dry seasons.

# Magnetic compass

A magnetic compass is an instrument that shows direction by means of a magnetised needle or
card that lines up with the Earth's magnetic field.

The earliest compasses were developed in China, where magnetised lodestone or iron was used
first for divination and later for navigation. By the late medieval period compasses were in
use on ships in Europe and the Middle East as well.

A compass points to magnetic north, which differs from true north. The angle between them,
called declination or variation, depends on location and changes slowly over time, so
navigators correct for it using charts.

Ships' compasses are usually mounted in gimbals and filled with liquid to steady the card.
Iron and steel nearby can deflect the needle, an effect known as deviation.

# Bicycle

A bicycle is a human-powered vehicle with two wheels, one behind the other, driven by pedals
that turn the rear wheel through a chain.

The first two-wheeled machines, in the early nineteenth century, had no pedals and were
pushed along by the rider's feet. Pedals fixed to the front wheel followed, and later the
high-wheeled penny-farthing was popular for a time.

The so-called safety bicycle of the 1880s, with two wheels of similar size and a chain drive,
established the basic design still used today. Pneumatic tyres, introduced soon afterwards,
made riding far more comfortable.

Bicycles are used for transport, recreation, sport and delivery work. Many cities have built
dedicated cycle lanes to make cycling safer and to reduce traffic and pollution.

# Origami

Origami is the art of folding paper into decorative or representational shapes, usually from
a single square sheet and traditionally without cutting or glue.

The practice is most closely associated with Japan, where folded paper has long been used in
ceremonies, but paper folding traditions also developed independently elsewhere.

A small number of basic folds, such as the valley fold and the mountain fold, can be combined
into a very wide range of models. Published diagrams use a standard set of symbols, so that
instructions can be followed without a shared language.

In recent decades origami has attracted the interest of mathematicians and engineers. Folding
techniques have been applied to designs such as collapsible solar panels, medical stents and
packaging.

# Volcano

A volcano is an opening in a planet's crust through which molten rock, gases and fragments of
rock escape from below the surface.

Molten rock below ground is called magma; once it reaches the surface it is called lava.
Eruptions range from quiet outpourings of fluid lava to violent explosions that throw ash high
into the atmosphere.

The style of an eruption depends largely on the composition of the magma and on how much gas
it contains. Runny, low-silica magma tends to erupt gently, while thick, silica-rich magma
traps gas and can erupt explosively.

Most volcanoes lie along the boundaries of tectonic plates, although some form above hot
spots in the middle of plates. Volcanic soils are often very fertile, which is one reason why
many people live near active volcanoes.

# Printing press

A printing press is a machine that presses an inked surface against paper or cloth,
transferring the ink to produce printed text or images.

In Europe, the development of a press using movable metal type in the fifteenth century is
usually credited to Johannes Gutenberg in Mainz. Earlier forms of printing, including
woodblock printing and movable type, had already been used in East Asia.

The press made it possible to produce books far more cheaply and quickly than by copying them
by hand. Printed material spread rapidly across Europe, supporting the growth of literacy,
scholarship and public debate.

Later developments included iron presses, steam-powered rotary presses and, in the twentieth
century, offset lithography, which is still widely used for commercial printing.

# Coral reef

A coral reef is an underwater structure built from the calcium carbonate skeletons of
colonies of tiny animals called coral polyps.

Most reef-building corals live in warm, shallow, clear tropical waters. They depend on
microscopic algae living inside their tissues, which supply them with food through
photosynthesis.

Although reefs cover a small fraction of the ocean floor, they support a remarkable diversity
of marine life. They also protect coastlines from waves and provide food and income for many
coastal communities.

Reefs are threatened by warming seas, pollution, overfishing and physical damage. When the
water becomes too warm, corals can expel their algae and turn white, an event known as
bleaching.

# Chess

Chess is a board game for two players, played on a board of sixty-four squares arranged in an
eight-by-eight grid. Each player begins with sixteen pieces: a king, a queen, two rooks, two
bishops, two knights and eight pawns.

The aim of the game is to checkmate the opponent's king, which means attacking it so that it
cannot escape. Games can also end in a draw, for example by agreement or when neither side
can force a win.

The modern rules took shape in southern Europe in the late fifteenth century, developing from
older games that had spread from India through Persia. Competitive chess is organised
internationally, with titles such as grandmaster awarded for strong results.

Computers have played an important part in the game's recent history. Chess programs now play
far more strongly than any human and are widely used for training and analysis.

# Windmill

A windmill is a structure that converts the energy of the wind into rotational motion by means
of vanes called sails or blades. Traditionally windmills were used to grind grain, pump water
or saw wood.

In a post mill, the whole body of the mill turns on a central post to face the wind. In a
tower mill or smock mill, only the cap at the top, which carries the sails, is turned.

Windmills were widely used in Europe from the Middle Ages onwards. In the Netherlands, large
numbers were used to drain low-lying land, helping to create the polders.

Many traditional mills fell out of use with the arrival of steam and electric power. Modern
wind turbines, which generate electricity, descend from the same basic idea.

# Papermaking

Papermaking is the manufacture of sheets of paper from a suspension of fibres in water. The
fibres are collected on a screen, drained, pressed and dried to form a thin, matted sheet.

Paper is traditionally said to have been invented in China early in the second century, and
the craft later spread through Central Asia and the Islamic world to Europe.

Early European paper was made mostly from linen and cotton rags. In the nineteenth century,
methods for making pulp from wood made paper far cheaper, and continuous machines replaced the
hand mould for most purposes.

Handmade paper is still produced for art, conservation and fine printing. Recycled waste paper
now provides a large share of the fibre used by the industry.

# Telescope

A telescope is an instrument that collects light or other electromagnetic radiation from
distant objects to form a magnified or brighter image.

The first practical telescopes appeared in the Netherlands in the early seventeenth century.
Galileo Galilei soon built his own and used it to observe mountains on the Moon, the phases of
Venus and moons orbiting Jupiter.

Refracting telescopes use lenses to gather light, while reflecting telescopes use curved
mirrors. Because large mirrors are easier to make and support than large lenses, the biggest
optical telescopes are reflectors.

Telescopes now observe across the spectrum, from radio waves to gamma rays. Some are placed in
orbit above the atmosphere, which blurs images and absorbs certain wavelengths.

# Canal

A canal is an artificial waterway built for navigation, irrigation, drainage or water supply.

Navigation canals allow boats to travel between rivers, lakes and seas. Changes in height are
overcome by locks: chambers with gates at each end in which the water level can be raised or
lowered.

Canals were vital to the early industrial economy in several countries, because a single
horse could pull a barge carrying far more than a cart. Railways later took much of this
traffic.

Today many older canals are used mainly for leisure boating, and for walking and cycling
along the towpaths, while large ship canals remain important routes for international trade.

# Moss

Mosses are small, non-flowering plants that typically grow in dense green clumps or mats in
damp or shady places.

Unlike flowering plants, mosses have no true roots, and they take up water and nutrients
largely through their leaves. They reproduce by spores, which are released from capsules held
above the plant on slender stalks.

Mosses are among the first plants to colonise bare rock and soil, and they help to retain
moisture and prevent erosion. Peat mosses in particular form bogs that store very large
amounts of carbon.

Many mosses can survive long periods of drying out and recover quickly when water returns.

# Kite

A kite is a tethered craft held aloft by the wind acting on its surfaces, which are usually
made of fabric or paper stretched over a light frame.

Kites are thought to have originated in China more than two thousand years ago, and they
spread to many other parts of Asia. They have been used for signalling, measuring distances
and carrying lines across rivers, as well as for play.

Scientists have used kites to lift instruments for measuring the weather, and kites played a
part in the experiments that led to powered flight.

Kite flying remains popular as a pastime and sport. Festivals in many countries feature large,
elaborate kites, and kite fighting, in which flyers try to cut each other's lines, is a
tradition in several regions.

# Suspension bridge

A suspension bridge is a bridge whose deck hangs from vertical cables, called suspenders, that
are attached to main cables draped between towers.

The main cables pass over the tops of the towers and are anchored firmly at each end of the
bridge. The weight of the deck is carried as tension in the cables and passed to the towers
and anchorages.

The design allows very long spans, and suspension bridges hold many of the records for the
longest main span. They can, however, be sensitive to wind, and engineers test designs
carefully to avoid dangerous oscillations.

Simple suspension bridges made of rope or vines have been built in mountainous regions for
centuries. Modern examples use steel cables made of thousands of individual wires.

# Sundial

A sundial is a device that tells the time of day from the position of a shadow cast by the
Sun. The shadow is cast by an edge or pin called the gnomon onto a surface marked with hour
lines.

For the dial to read correctly, the gnomon is usually aligned parallel to the Earth's axis,
pointing towards the celestial pole. The hour lines must then be laid out to suit the
latitude at which the dial is used.

A sundial shows apparent solar time, which differs from clock time. The difference comes
partly from time zones and daylight saving, and partly from the equation of time, which
varies through the year by up to about a quarter of an hour.

Sundials were used in ancient Egypt, Babylon, Greece and Rome, and remained common until
mechanical clocks became reliable and cheap. Many survive on church walls, in gardens and on
public buildings.

# Lichen

A lichen is a composite organism formed by a partnership between a fungus and one or more
photosynthetic partners, usually green algae or cyanobacteria.

The fungus provides structure and protection, while the partner makes food by
photosynthesis. Together they can live in places where neither could survive alone, such as
bare rock, tree bark and arctic tundra.

Lichens grow very slowly, and some are thought to be many centuries old. Because many species
are sensitive to air pollution, they are used as indicators of air quality.

Lichens have been used as dyes, as food in times of scarcity and as winter fodder for
reindeer.

# Mosaic

A mosaic is a picture or pattern made by setting small pieces of coloured stone, glass,
ceramic or other material, known as tesserae, into a surface.

Mosaic floors were common in the ancient Greek and Roman worlds, where they decorated houses,
baths and public buildings. Many surviving examples show scenes from mythology, daily life or
nature.

Byzantine artists developed wall and ceiling mosaics using glass tesserae backed with gold
leaf, which shimmer in candlelight and daylight.

The technique is still used today in public art, architecture and craft. Mosaics are durable
and can be placed outdoors, which makes them popular for murals and pavements.

# Rainbow

A rainbow is an optical phenomenon that appears as an arc of colours in the sky when sunlight
shines on water droplets in the air.

Light entering a droplet is bent, reflected from the back of the droplet and bent again as it
leaves. Because different colours are bent by slightly different amounts, white light is
spread out into a spectrum.

A rainbow is always seen in the part of the sky opposite the Sun, and its centre lies
directly opposite the Sun from the observer. The primary bow has red on the outside and
violet on the inside.

A fainter secondary rainbow sometimes appears outside the primary one, with its colours in
reverse order. The darker band of sky between the two bows is known as Alexander's band.

# Thunderstorm

A thunderstorm is a storm marked by lightning and the thunder it produces. Thunderstorms
usually bring heavy rain and gusty winds, and sometimes hail.

They form when warm, moist air rises rapidly in an unstable atmosphere. As the air cools,
water vapour condenses into towering cumulonimbus clouds, and the separation of electric
charge within the cloud leads to lightning.

Thunder is the sound made by the rapid expansion of air heated by a lightning stroke. Because
light travels much faster than sound, the delay between a flash and the thunder can be used
to estimate how far away the lightning was.

Most thunderstorms last less than an hour, but organised systems can persist for many hours
and cause flooding, damaging winds and, occasionally, tornadoes.

# Cartography

Cartography is the study and practice of making maps. It combines science, technical skill
and design to represent the Earth or other places on a flat surface or a screen.

Because the Earth is roughly spherical, any flat map must distort shape, area, distance or
direction in some way. Map projections are mathematical methods for managing these
distortions, and each suits particular purposes.

Maps have been made for thousands of years, from ancient clay tablets and medieval world maps
to detailed national surveys. Aerial photography and satellite imagery transformed the field
in the twentieth century.

Modern cartography relies heavily on geographic information systems, which store spatial data
in layers that can be combined and analysed. Online maps have made cartography part of
everyday life.

# Tea

Tea is a drink made by pouring hot or boiling water over the cured or fresh leaves of the tea
plant, Camellia sinensis. After water, it is one of the most widely consumed drinks in the
world.

The plant is native to East Asia, and tea drinking has a long history in China. It later
spread to Japan, Korea and other parts of Asia, and reached Europe in the seventeenth century.

Green, black, oolong and white tea are produced mainly by processing the leaves in different
ways, above all by controlling how far they are allowed to oxidise.

Tea contains caffeine and a variety of other compounds that affect its flavour and colour.
Customs for preparing and serving tea vary widely from one culture to another.

# Olive

The olive is a small evergreen tree, Olea europaea, cultivated around the Mediterranean since
ancient times for its fruit and the oil pressed from it.

Olive trees grow slowly and can live for a very long time; some are believed to be many
hundreds of years old. They are well suited to hot, dry summers and mild winters.

The fresh fruit is extremely bitter and is usually cured in brine, water or salt before it is
eaten. Most of the harvest, however, is used to make olive oil.

The olive branch has long been a symbol of peace, and the tree has a prominent place in the
art, religion and cooking of the Mediterranean region.

# Sea turtle

Sea turtles are large marine reptiles found in tropical and subtropical oceans around the
world. There are seven living species.

They spend almost all of their lives at sea, but females come ashore to lay their eggs in
nests dug in sandy beaches. Many return to nest on the same beach where they hatched.

The sex of the hatchlings depends on the temperature of the sand during incubation, with
warmer nests producing more females.

Most species are considered threatened. Dangers include accidental capture in fishing gear,
loss of nesting beaches, pollution and the taking of eggs and adults. Conservation programmes
protect nesting sites and promote fishing methods that spare turtles.

# Granite

Granite is a coarse-grained igneous rock composed mainly of quartz and feldspar, usually with
smaller amounts of mica and other minerals.

It forms from magma that cools slowly deep underground, which allows large crystals to grow.
Granite reaches the surface when the rocks above it are worn away over long periods.

Because it is hard and resists weathering, granite often forms upland areas and distinctive
rocky outcrops.

Granite has long been used as a building and monument stone, and polished slabs are popular
for kitchen worktops and floors.

# Loom

A loom is a device for weaving cloth by interlacing two sets of threads at right angles: the
lengthwise warp and the crosswise weft.

The warp threads are held under tension on the loom, and a mechanism opens a gap between them,
called the shed, so that the weft can be passed through, often with a shuttle.

Simple looms have been used since prehistoric times. The power loom, developed at the end of
the eighteenth century, mechanised the process and transformed the textile industry.

The Jacquard loom, introduced in the early nineteenth century, used chains of punched cards to
control complex patterns, an idea that later influenced early computing.

# Aqueduct

An aqueduct is a channel or conduit built to carry water from a source to where it is needed,
such as a city or farmland. The word is often used for the bridges that carry such channels
across valleys.

The Romans built extensive aqueduct systems that supplied cities with water for drinking,
baths and fountains. Most of their length ran underground or at ground level, with arched
bridges used only where necessary.

Roman aqueducts relied on gravity, so engineers had to keep a gentle, steady downward slope
over long distances.

Modern water supply systems use pipes, tunnels, pumps and reservoirs, but large aqueducts are
still used in many places to move water over long distances.

# Hedgehog

Hedgehogs are small, spiny mammals found in parts of Europe, Asia and Africa, and introduced
to New Zealand.

Their backs are covered with several thousand stiff, hollow spines. When threatened, a
hedgehog rolls into a tight ball, presenting its spines to the attacker.

Hedgehogs are mainly active at night and feed on insects, worms, snails and other small
animals. In cooler climates they hibernate through the winter.

In several countries hedgehog numbers have fallen, partly because of habitat loss and road
traffic. Gardeners are often encouraged to leave gaps in fences so that hedgehogs can move
between gardens.

# Barometer

A barometer is an instrument for measuring atmospheric pressure. Changes in pressure are
associated with changes in the weather, so barometers have long been used for forecasting.

The mercury barometer was invented in the seventeenth century by Evangelista Torricelli. It
measures pressure by the height of a column of mercury in a glass tube sealed at the top.

The aneroid barometer, which uses no liquid, measures pressure by the movement of a small
sealed metal capsule that expands and contracts. It is easy to carry and is used in many
household barometers and in altimeters.

In general, falling pressure suggests that unsettled weather is approaching, while rising
pressure often points to clearer conditions.

# Cheese

Cheese is a food made from the milk of cows, goats, sheep, buffalo and other mammals. It is
produced by coagulating milk proteins, separating the solid curds from the liquid whey, and
then treating the curds.

Coagulation is usually brought about by adding rennet, an enzyme preparation, together with
bacterial cultures that acidify the milk. Some fresh cheeses are set with acid alone.

Many cheeses are ripened for weeks, months or years, during which bacteria, moulds and
enzymes develop their flavour and texture. Hundreds of varieties exist, differing in milk,
method and ageing.

Cheesemaking allowed milk to be preserved long before refrigeration, and many regions have
distinctive cheeses that are closely tied to local traditions.

# Hot air balloon

A hot air balloon is a lighter-than-air aircraft made up of a large bag, called the envelope,
which holds heated air, and a basket that carries passengers and a source of heat.

Because hot air is less dense than the cooler air around it, the envelope rises. The pilot
controls altitude by heating the air with a propane burner or letting it cool.

The first crewed flight in a hot air balloon took place in Paris in 1783, in a balloon built
by the Montgolfier brothers.

A balloon cannot be steered except by changing height to find winds blowing in different
directions. Today balloons are used mainly for recreation, sport and sightseeing.

# Fjord

A fjord is a long, narrow, deep inlet of the sea between high cliffs or steep slopes, formed
when a valley carved by a glacier is flooded by the sea.

During ice ages, glaciers deepened existing valleys far below sea level. When the ice
retreated and sea levels rose, the sea filled these valleys.

Fjords are often deepest some way inland and shallower near their mouths, where a ridge of
rock or glacial debris called a sill may lie.

Well-known fjord coastlines include those of Norway, Greenland, Chile, New Zealand and western
Canada. Their dramatic scenery makes many of them popular with visitors.

# Potter's wheel

A potter's wheel is a machine used to shape round ceramic ware. The potter places a lump of
clay on a turning wheel head and shapes it by hand as it spins, a process known as throwing.

Early wheels were turned by hand or by foot, while modern wheels are usually driven by
electric motors whose speed can be adjusted precisely.

The wheel made it possible to produce symmetrical vessels more quickly than by methods such as
coiling. It appeared in the ancient Near East several thousand years ago.

After throwing, pieces are usually left to dry partly, trimmed, and then fired in a kiln. Many
are glazed and fired a second time.

# Morse code

Morse code is a method of encoding text as sequences of short and long signals, called dots
and dashes. It was developed in the 1830s and 1840s for use with the electric telegraph.

Each letter, numeral and some punctuation marks have their own pattern. Common letters such
as E and T have the shortest codes, which makes sending messages more efficient.

The code can be sent by electrical pulses, sound, light or any other signal that can be
switched on and off. The distress signal SOS, three dots, three dashes and three dots, became
widely known.

Morse code was long used in maritime and military communication. It has largely been replaced
by other technologies, but it remains popular with amateur radio operators.
"""

WIKI_NEAR_COPY = (
    "Sundial",
    "Sundial (timekeeping)",
    [
        ("is a device that tells", "is an instrument that shows"),
        ("usually aligned", "normally aligned"),
        ("remained common", "remained widespread"),
        ("Many survive", "Many examples survive"),
    ],
)
WIKI_NEAR_COPY_POSITION = 30

# ---------------------------------------------------------------------------------------
# Sites, themes and interface strings
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Theme:
    """Markup choices for one site template; class names differ from theme to theme."""

    name: str
    body: str
    header: str
    nav: str
    main: str
    article: str
    sidebar: str
    comment: str
    cookie: str
    footer: str
    semantic: bool = True  # <header>/<nav>/<aside>/<footer>, or plain <div>s
    nav_list: bool = True  # menu as <ul><li>, or bare links
    sidebar_first: bool = False
    comments_list: bool = False  # comments in an <ol>, or as <div>s


THEMES = {
    "news": Theme(
        "news",
        "site-news",
        "masthead",
        "primary-nav",
        "page-grid",
        "story",
        "rail",
        "comment-card",
        "cc-banner",
        "site-footer",
    ),
    "blog": Theme(
        "blog",
        "wp-site home-blog",
        "site-header",
        "main-navigation",
        "content-area",
        "post hentry",
        "widget-area",
        "comment-body",
        "cookie-notice",
        "site-info",
        comments_list=True,
    ),
    "magazine": Theme(
        "magazine",
        "mag",
        "top-bar",
        "menu",
        "layout two-col",
        "entry",
        "related-box",
        "reader-comment",
        "consent-popup",
        "bottom",
        nav_list=False,
        sidebar_first=True,
    ),
    "travel": Theme(
        "travel",
        "tl-body",
        "hero-header",
        "tl-nav",
        "tl-container",
        "tl-post",
        "tl-more",
        "tl-comment",
        "gdpr-bar",
        "tl-footer",
        nav_list=False,
        comments_list=True,
    ),
    "aggregator": Theme(
        "aggregator",
        "agg",
        "agg-head",
        "agg-nav",
        "agg-main",
        "agg-article syndicated",
        "agg-trending",
        "agg-reply",
        "agg-consent",
        "agg-foot",
        sidebar_first=True,
    ),
    "legacy": Theme(
        "legacy",
        "page",
        "hdr",
        "menu-top",
        "cnt",
        "txt",
        "side",
        "cmt",
        "cookiebar",
        "ftr",
        semantic=False,
        nav_list=False,
    ),
}


@dataclass
class Site:
    domain: str
    name: str
    lang: str
    theme: Theme
    menu: list[str]
    url_pattern: str  # fields: section, slug, yyyy, mm, dd, n
    sections: dict[str, str] = field(default_factory=dict)
    server: str = "nginx"
    charset_label: str = "utf-8"


SITES = {
    "courier": Site(
        "www.northfield-courier.example",
        "The Northfield Courier",
        "en",
        THEMES["news"],
        ["News", "Sport", "Heritage", "Money", "Opinion", "What's on"],
        "/{section}/{yyyy}/{mm}/{slug}",
        {"local": "news", "sports": "sport", "history": "heritage", "finance": "money"},
        server="nginx/1.24.0",
        charset_label="UTF-8",
    ),
    "allotment": Site(
        "allotment-table.example",
        "The Allotment Table",
        "en",
        THEMES["blog"],
        ["Recipes", "Garden diary", "Seasonal", "About me", "Contact"],
        "/{yyyy}/{mm}/{dd}/{slug}/",
        server="Apache/2.4.57 (Debian)",
    ),
    "bytes": Site(
        "www.bytes-and-beakers.example",
        "Bytes & Beakers",
        "en",
        THEMES["magazine"],
        ["Software", "Science", "Health", "Reviews", "Newsletter"],
        "/{section}/{slug}-{n}",
        {"software": "software", "science": "science", "health": "health"},
        server="cloudflare",
    ),
    "wanderlog": Site(
        "wanderlog.example",
        "Wanderlog",
        "en",
        THEMES["travel"],
        ["Destinations", "Itineraries", "Budget travel", "Photo diary", "About"],
        "/posts/{slug}.html",
    ),
    "newsbeat": Site(
        "www.newsbeat-hub.example",
        "Newsbeat Hub",
        "en",
        THEMES["aggregator"],
        ["Top stories", "Local", "Lifestyle", "Tech", "Partners"],
        "/partners/{n}/{slug}",
    ),
    "mirror": Site(
        "content-mirror.example",
        "Content Mirror",
        "en",
        THEMES["legacy"],
        ["Home", "Latest", "Popular", "Archive"],
        "/p/{n}/{slug}",
        server="Apache",
    ),
    "tagblatt": Site(
        "www.nordheimer-tagblatt.example",
        "Nordheimer Tagblatt",
        "de",
        THEMES["news"],
        ["Lokales", "Freizeit", "Genuss", "Wetter", "Kontakt"],
        "/{section}/artikel/{slug}-{n}.html",
        {"lokales": "lokales", "wandern": "freizeit", "kochen": "genuss"},
        server="Apache/2.4.57",
    ),
    "quotidien": Site(
        "www.le-petit-quotidien.example",
        "Le Petit Quotidien",
        "fr",
        THEMES["magazine"],
        ["Actualités", "Cuisine", "Voyages", "Culture", "Contact"],
        "/{section}/{slug}/",
        {"vie-locale": "actualites", "cuisine": "cuisine", "voyage": "voyages"},
    ),
    "diario": Site(
        "www.diario-del-valle.example",
        "Diario del Valle",
        "es",
        THEMES["blog"],
        ["Portada", "Viajes", "Cocina", "Opinión", "Contacto"],
        "/{section}/{yyyy}/{slug}",
        {"viajes": "viajes", "cocina": "cocina"},
    ),
}

TOPIC_SITES = {
    "local": "courier",
    "sports": "courier",
    "history": "courier",
    "finance": "courier",
    "gardening": "allotment",
    "cooking": "allotment",
    "software": "bytes",
    "science": "bytes",
    "health": "bytes",
    "travel": "wanderlog",
    "lokales": "tagblatt",
    "wandern": "tagblatt",
    "kochen": "tagblatt",
    "vie-locale": "quotidien",
    "cuisine": "quotidien",
    "voyage": "quotidien",
    "viajes": "diario",
    "cocina": "diario",
}

SYNDICATION_PREFIXES = ["Syndicated: ", "From our partners: ", "Reposted: ", "Partner content: "]


@dataclass(frozen=True)
class Locale:
    byline: str
    related: str
    comments: str
    cookie: str
    accept: str
    manage: str
    rights: str
    privacy: str
    imprint: str
    contact: str
    months: tuple[str, ...]
    date_format: str


LOCALES = {
    "en": Locale(
        "By",
        "Related articles",
        "Comments",
        "We use cookies to improve your experience.",
        "Accept all",
        "Manage settings",
        "All rights reserved.",
        "Privacy policy",
        "Imprint",
        "Contact",
        (
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ),
        "{day} {month} {year}",
    ),
    "de": Locale(
        "Von",
        "Ähnliche Artikel",
        "Kommentare",
        "Wir verwenden Cookies, um Ihr Nutzungserlebnis zu verbessern.",
        "Alle akzeptieren",
        "Einstellungen verwalten",
        "Alle Rechte vorbehalten.",
        "Datenschutzerklärung",
        "Impressum",
        "Kontakt",
        (
            "Januar",
            "Februar",
            "März",
            "April",
            "Mai",
            "Juni",
            "Juli",
            "August",
            "September",
            "Oktober",
            "November",
            "Dezember",
        ),
        "{day}. {month} {year}",
    ),
    "fr": Locale(
        "Par",
        "Articles similaires",
        "Commentaires",
        "Nous utilisons des cookies pour améliorer votre expérience.",
        "Tout accepter",
        "Gérer les paramètres",
        "Tous droits réservés.",
        "Politique de confidentialité",
        "Mentions légales",
        "Contact",
        (
            "janvier",
            "février",
            "mars",
            "avril",
            "mai",
            "juin",
            "juillet",
            "août",
            "septembre",
            "octobre",
            "novembre",
            "décembre",
        ),
        "{day} {month} {year}",
    ),
    "es": Locale(
        "Por",
        "Artículos relacionados",
        "Comentarios",
        "Utilizamos cookies para mejorar su experiencia.",
        "Aceptar todo",
        "Gestionar ajustes",
        "Todos los derechos reservados.",
        "Política de privacidad",
        "Aviso legal",
        "Contacto",
        (
            "enero",
            "febrero",
            "marzo",
            "abril",
            "mayo",
            "junio",
            "julio",
            "agosto",
            "septiembre",
            "octubre",
            "noviembre",
            "diciembre",
        ),
        "{day} de {month} de {year}",
    ),
}

# ---------------------------------------------------------------------------------------
# Composing articles
# ---------------------------------------------------------------------------------------

Block = tuple  # ("p", [sentences]) | ("ul", [items]) | ("table", caption, header, rows)


@dataclass
class Article:
    topic: Topic
    title: str
    author: str
    published: dt.date
    fixed: dict[str, str]
    templates: list[str]
    blocks: list[Block]


def fill(template: str, fixed: dict[str, str], slots: dict[str, list[str]], rng) -> str:
    """Fill ``{slot}`` placeholders (fixed values first, else a seeded choice); capitalise."""

    def choose(match: re.Match) -> str:
        key = match.group(1)
        return fixed[key] if key in fixed else rng.choice(slots[key])

    text = SLOT_PATTERN.sub(choose, template)
    return text[:1].upper() + text[1:]


def topic_slots(topic: Topic) -> dict[str, list[str]]:
    return {**COMMON_SLOTS[topic.lang], **topic.slots}


def pick_templates(topic: Topic, rng: random.Random, share: float) -> list[str]:
    """A shuffled share of the bank, led by a sentence naming the article's subject."""
    templates = list(topic.sentences)
    rng.shuffle(templates)
    if topic.anchor:
        marker = "{" + topic.anchor + "}"
        lead = next((t for t in templates if marker in t), None)
        if lead is not None:
            templates.remove(lead)
            templates.insert(0, lead)
    return templates[: max(8, round(len(templates) * share))]


def paragraph_sizes(total: int, rng: random.Random) -> list[int]:
    """Split ``total`` sentences into 4-10 paragraphs of 2-5 sentences (may use fewer)."""
    count = rng.randint(4, max(4, min(10, total // 2)))
    sizes = [2] * count
    for _ in range(min(total - 2 * count, 3 * count)):
        open_slots = [i for i, size in enumerate(sizes) if size < 5]
        sizes[rng.choice(open_slots)] += 1
    return sizes


def table_block(table: Table, rng: random.Random) -> Block:
    rows = [[label, *(str(rng.randint(lo, hi)) for lo, hi in table.ranges)] for label in table.rows]
    return ("table", table.caption, table.header, rows)


def add_extras(blocks: list[Block], topic: Topic, rng: random.Random) -> None:
    """Sometimes insert the topic's bullet list (with its intro) or its table."""
    if topic.bullets and rng.random() < 0.4:
        intro, items = topic.bullets
        chosen = rng.sample(items, k=min(len(items), rng.randint(4, 6)))
        position = rng.randint(1, len(blocks) - 1)
        blocks[position:position] = [("p", [intro]), ("ul", chosen)]
    if topic.table and rng.random() < 0.3:
        blocks.insert(rng.randint(1, len(blocks) - 1), table_block(topic.table, rng))


def compose_article(
    topic: Topic,
    rng: random.Random,
    title_template: str,
    anchor: str | None = None,
    share: float = 0.6,
) -> Article:
    slots = topic_slots(topic)
    fixed = {"town": rng.choice(slots["town"])}  # one town per article keeps it coherent
    if topic.anchor and anchor:
        fixed[topic.anchor] = anchor
    title = fill(title_template, fixed, slots, rng)
    author = rng.choice(slots["name"])
    published = FIRST_PUBLISHED + dt.timedelta(days=rng.randrange(450))
    templates = pick_templates(topic, rng, share)
    blocks: list[Block] = []
    start = 0
    for size in paragraph_sizes(len(templates), rng):
        group = templates[start : start + size]
        blocks.append(("p", [fill(t, fixed, slots, rng) for t in group]))
        start += size
    add_extras(blocks, topic, rng)
    return Article(topic, title, author, published, fixed, templates[:start], blocks)


def rewrite_sentences(article: Article, rng: random.Random, count: int) -> Article:
    """A near copy: ``count`` sentences replaced by unused sentences from the same bank."""
    spare = [t for t in article.topic.sentences if t not in article.templates]
    slots = topic_slots(article.topic)
    blocks = [("p", list(block[1])) if block[0] == "p" else block for block in article.blocks]
    positions = [
        (b, s)
        for b, block in enumerate(blocks)
        if block[0] == "p" and len(block[1]) > 1
        for s in range(len(block[1]))
    ]
    replacements = rng.sample(spare, count)
    for (b, s), template in zip(rng.sample(positions, count), replacements, strict=True):
        blocks[b][1][s] = fill(template, article.fixed, slots, rng)
    return replace(article, blocks=blocks)


# ---------------------------------------------------------------------------------------
# HTML rendering
# ---------------------------------------------------------------------------------------


def esc(text: str) -> str:
    return html.escape(text, quote=False)


def attr(text: str) -> str:
    return html.escape(text, quote=True)


def slugify(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.replace("ß", "ss"))
    ascii_text = folded.encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:70].rstrip("-")


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def display_date(date: dt.date, locale: Locale) -> str:
    month = locale.months[date.month - 1]
    return locale.date_format.format(day=date.day, month=month, year=date.year)


def render_head(title: str, url: str, description: str, charset: str | None, theme: Theme) -> str:
    meta = [f'<meta charset="{charset}">'] if charset else []
    return "\n".join(
        [
            "<head>",
            *meta,
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{esc(title)}</title>",
            f'<meta name="description" content="{attr(description)}">',
            f'<link rel="canonical" href="{attr(url)}">',
            f'<link rel="stylesheet" href="/assets/{theme.name}.css">',
            f'<script>window.siteConfig = {{theme: "{theme.name}", consent: false}};</script>',
            '<script src="/assets/app.js" defer></script>',
            "</head>",
        ]
    )


def render_header(site: Site) -> str:
    theme = site.theme
    links = [(label, f"/{slugify(label)}/") for label in site.menu]
    if theme.nav_list:
        items = "".join(f'<li><a href="{href}">{esc(label)}</a></li>' for label, href in links)
        menu = f"<ul>{items}</ul>"
    else:
        menu = " | ".join(f'<a href="{href}">{esc(label)}</a>' for label, href in links)
    outer, nav = ("header", "nav") if theme.semantic else ("div", "div")
    return "\n".join(
        [
            f'<{outer} class="{theme.header}">',
            f'<a class="logo" href="/">{esc(site.name)}</a>',
            f'<{nav} class="{theme.nav}">{menu}</{nav}>',
            f"</{outer}>",
        ]
    )


def render_block(block: Block) -> str:
    match block:
        case ("p", sentences):
            return f"<p>{esc(' '.join(sentences))}</p>"
        case ("ul", items):
            return "<ul>" + "".join(f"<li>{esc(item)}</li>" for item in items) + "</ul>"
        case ("table", caption, header, rows):
            head = "".join(f"<th>{esc(cell)}</th>" for cell in header)
            body = "".join(
                "<tr>" + "".join(f"<td>{esc(cell)}</td>" for cell in row) + "</tr>" for row in rows
            )
            return (
                f'<table class="data"><caption>{esc(caption)}</caption>'
                f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
            )
    raise ValueError(f"unknown block {block[0]!r}")


def render_article(article: Article, theme: Theme, locale: Locale) -> str:
    date = article.published
    byline = (
        f'<p class="byline">{locale.byline} {esc(article.author)} · '
        f'<time datetime="{date.isoformat()}">{display_date(date, locale)}</time></p>'
    )
    return "\n".join(
        [
            f'<article class="{theme.article}">',
            f"<h1>{esc(article.title)}</h1>",
            byline,
            *map(render_block, article.blocks),
            "</article>",
        ]
    )


def render_sidebar(related: list[tuple[str, str]], theme: Theme, locale: Locale) -> str:
    tag = "aside" if theme.semantic else "div"
    items = "".join(
        f'<li><a href="{attr(path_of(url))}">{esc(title)}</a></li>' for url, title in related
    )
    return f'<{tag} class="{theme.sidebar}">\n<h2>{locale.related}</h2>\n<ul>{items}</ul>\n</{tag}>'


def render_comments(comments: list[tuple[str, str]], theme: Theme, locale: Locale) -> str:
    item_tag = "li" if theme.comments_list else "div"
    items = [
        f'<{item_tag} class="{theme.comment}"><p class="comment-author">{esc(author)}</p>'
        f"<p>{esc(text)}</p></{item_tag}>"
        for author, text in comments
    ]
    if theme.comments_list:
        items = ["<ol>", *items, "</ol>"]
    return "\n".join(
        [
            '<section class="comments">',
            f"<h2>{locale.comments} ({len(comments)})</h2>",
            *items,
            "</section>",
        ]
    )


def render_cookie_banner(theme: Theme, locale: Locale) -> str:
    return (
        f'<div class="{theme.cookie}" id="cookie-banner" role="dialog"><p>{esc(locale.cookie)}</p>'
        f'<button type="button" class="accept">{esc(locale.accept)}</button> '
        f'<button type="button" class="settings">{esc(locale.manage)}</button></div>'
    )


def render_footer(site: Site, locale: Locale) -> str:
    tag = "footer" if site.theme.semantic else "div"
    links = " · ".join(
        [
            f'<a href="/privacy">{esc(locale.privacy)}</a>',
            f'<a href="/imprint">{esc(locale.imprint)}</a>',
            f'<a href="/contact">{esc(locale.contact)}</a>',
        ]
    )
    return (
        f'<{tag} class="{site.theme.footer}">\n<p>© 2024 {esc(site.name)}. {esc(locale.rights)}</p>'
        f"\n<p>{links}</p>\n</{tag}>"
    )


def render_article_page(
    site: Site,
    article: Article,
    canonical: str,
    charset: str | None,
    related: list[tuple[str, str]],
    comments: list[tuple[str, str]],
) -> str:
    theme, locale = site.theme, LOCALES[site.lang]
    description = next(block[1][0] for block in article.blocks if block[0] == "p")
    main = [render_article(article, theme, locale), render_sidebar(related, theme, locale)]
    if theme.sidebar_first:
        main.reverse()
    return "\n".join(
        [
            "<!DOCTYPE html>",
            f'<html lang="{site.lang}">',
            render_head(f"{article.title} | {site.name}", canonical, description, charset, theme),
            f'<body class="{theme.body}">',
            render_header(site),
            f'<div class="{theme.main}">',
            *main,
            "</div>",
            render_comments(comments, theme, locale),
            render_cookie_banner(theme, locale),
            render_footer(site, locale),
            "</body>",
            "</html>",
            "",
        ]
    )


def render_bare_page(title: str, body: str, head_extra: str = "", lang: str = "en") -> str:
    """A minimal page, for spam and error pages that use no site template."""
    return "\n".join(
        [
            "<!DOCTYPE html>",
            f'<html lang="{lang}">',
            "<head>",
            '<meta charset="utf-8">',
            f"<title>{esc(title)}</title>",
            *([head_extra] if head_extra else []),
            "</head>",
            "<body>",
            body,
            "</body>",
            "</html>",
            "",
        ]
    )


# ---------------------------------------------------------------------------------------
# Spam and low-quality pages: each builder returns (title, body html, extra head html)
# ---------------------------------------------------------------------------------------

SpamPage = tuple[str, str, str]


def keyword_stuffing(rng: random.Random, keywords: list[str], heading: str) -> SpamPage:
    phrase = heading.lower()
    lines_ = [
        " ".join([phrase, *rng.sample(keywords, 4), rng.choice(SPAM_SUFFIXES)]) for _ in range(24)
    ]
    paragraphs = "\n".join(f"<p>{esc(line)}</p>" for line in lines_)
    hidden = esc(" ".join(keywords * 6))
    body = "\n".join(
        [
            f"<h1>{esc(heading.upper())}</h1>",
            paragraphs,
            f'<div style="display:none">{hidden}</div>',
            '<p><a href="/order">BUY NOW</a> <a href="/order">ORDER NOW</a></p>',
        ]
    )
    head = f'<meta name="keywords" content="{attr(", ".join(keywords))}">'
    return f"{heading} | {heading} Online", body, head


def link_directory(rng: random.Random) -> SpamPage:
    categories = [
        f'<li><a href="/dir/{slugify(name)}/">{esc(name)}</a></li>' for name in DIRECTORY_CATEGORIES
    ]
    pages = " ".join(f'<a href="/dir/page-{n}/">{n}</a>' for n in range(1, 31))
    partners = "".join(
        f'<li><a href="https://partner-{n}.example/">Partner site {n}</a></li>'
        for n in sorted(rng.sample(range(100, 999), 12))
    )
    body = "\n".join(
        [
            "<h1>Business Directory - All Categories</h1>",
            f"<ul>{''.join(categories)}</ul>",
            f"<p>{pages}</p>",
            f"<ul>{partners}</ul>",
        ]
    )
    return "Business Directory - All Categories", body, ""


def navigation_only(rng: random.Random) -> SpamPage:
    menu = ["Home", "News", "Blog", "Shop", "Forum", "Events", "Gallery", "About", "Contact"]
    nav = "".join(f'<li><a href="/{slugify(item)}/">{item}</a></li>' for item in menu)
    months = LOCALES["en"].months
    archive = "".join(
        f'<li><a href="/2023/{n:02d}/">{months[n - 1]} 2023</a></li>' for n in range(1, 13)
    )
    last = rng.randint(40, 60)
    pager = " ".join(f'<a href="/2023/03/page/{n}/">{n}</a>' for n in range(1, 6))
    body = "\n".join(
        [
            f'<nav class="top"><ul>{nav}</ul></nav>',
            '<p class="breadcrumb"><a href="/">Home</a> › <a href="/archive/">Archive</a></p>',
            "<h1>Archive: March 2023</h1>",
            f'<nav class="archive"><ul>{archive}</ul></nav>',
            f'<nav class="pager">« Previous {pager} … <a href="/2023/03/page/{last}/">{last}</a>'
            ' <a href="/2023/03/page/2/">Next »</a></nav>',
            f"<footer><ul>{nav}</ul></footer>",
        ]
    )
    return "Archive: March 2023", body, ""


def lorem_ipsum(rng: random.Random) -> SpamPage:
    def sentence() -> str:
        words = rng.choices(LOREM_TEXT.split(), k=rng.randint(7, 15))
        return " ".join(words).capitalize() + "."

    paragraphs = [
        " ".join(sentence() for _ in range(rng.randint(4, 7))) for _ in range(rng.randint(5, 7))
    ]
    paragraphs[0] = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " + paragraphs[0]
    body = "\n".join(["<h1>Sample Page</h1>", *(f"<p>{p}</p>" for p in paragraphs)])
    return "Sample Page - Lorem Demo Theme", body, ""


def almost_empty(rng: random.Random) -> SpamPage:
    return "Coming soon", "<h1>Coming soon</h1>\n<p>Stay tuned.</p>", ""


def javascript_dump(rng: random.Random) -> SpamPage:
    code = [
        rng.choice(JS_TEMPLATES).format(**{k: rng.choice(v) for k, v in JS_NAMES.items()})
        for _ in range(40)
    ]
    body = "\n".join(
        [
            "<h1>Home</h1>",
            '<div class="post-body">',
            *(f"<p>{esc(line)}</p>" for line in code),
            "</div>",
        ]
    )
    return "Home", body, ""


def repeated_lines(rng: random.Random) -> SpamPage:
    repeats = rng.randint(18, 24)
    body = "\n".join([f"<p>{esc(line)}</p>" for _ in range(repeats) for line in PRIZE_LINES])
    return "You are a winner!", "<h1>You are a winner!</h1>\n" + body, ""


def doorway_cities(rng: random.Random) -> SpamPage:
    cities = rng.sample(DOORWAY_CITIES, len(DOORWAY_CITIES))
    paragraphs = [
        f"<p>Best emergency plumber in {city}. Cheap plumber {city}, open 24 hours. "
        f"Call now for a plumber near me in {city}.</p>"
        for city in cities
    ]
    body = "<h1>Plumber Near Me - All Locations</h1>\n" + "\n".join(paragraphs)
    return "Plumber Near Me - Cheap Emergency Plumber 24/7", body, ""


class SpamSpec(NamedTuple):
    kind: str
    url: str
    build: Callable[[random.Random], SpamPage]


SPAM_PAGES = [
    SpamSpec(
        "keyword_stuffing",
        "https://www.cheap-watches-best-price.example/",
        partial(
            keyword_stuffing, keywords=WATCH_KEYWORDS, heading="Cheap Watches Best Price Buy Now"
        ),
    ),
    SpamSpec(
        "keyword_stuffing",
        "https://fast-loans-today.example/apply",
        partial(keyword_stuffing, keywords=LOAN_KEYWORDS, heading="Fast Loans Bad Credit OK"),
    ),
    SpamSpec(
        "keyword_stuffing",
        "https://miracle-diet-pills.example/",
        partial(keyword_stuffing, keywords=DIET_KEYWORDS, heading="Lose Weight Fast Diet Pills"),
    ),
    SpamSpec("link_list", "https://www.business-directory-hub.example/categories/", link_directory),
    SpamSpec("navigation_only", "https://www.portal-archive.example/2023/03/", navigation_only),
    SpamSpec("lorem_ipsum", "https://lorem-demo-theme.example/sample-page/", lorem_ipsum),
    SpamSpec("almost_no_text", "https://new-venture-site.example/", almost_empty),
    SpamSpec("javascript_text", "https://www.broken-cms.example/index.php?p=home", javascript_dump),
    SpamSpec("repeated_lines", "https://prize-claim-now.example/winner", repeated_lines),
    SpamSpec("doorway", "https://plumber-near-me-247.example/locations/", doorway_cities),
]

# ---------------------------------------------------------------------------------------
# Fictional personal data with valid checksums
# ---------------------------------------------------------------------------------------


def luhn_check_digit(digits: str) -> str:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 0:  # doubled once the check digit is appended on the right
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return str(-total % 10)


def iban(country: str, bban: str) -> str:
    """An IBAN with correct ISO 13616 check digits, printed in groups of four."""
    numeric = "".join(str(int(char, 36)) for char in bban + country + "00")
    raw = f"{country}{98 - int(numeric) % 97:02d}{bban}"
    return " ".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def pii_values() -> dict[str, str]:
    card = "411111111111111"  # the well-known Visa test number
    card += luhn_check_digit(card)
    return {
        "card": " ".join(card[i : i + 4] for i in range(0, 16, 4)),
        "iban_gb": iban("GB", "WEST12345698765432"),  # the standard documentation example
        "iban_de": iban("DE", "370400440532013000"),
    }


# ---------------------------------------------------------------------------------------
# Binary payloads
# ---------------------------------------------------------------------------------------


def make_png(width: int = 8, height: int = 8) -> bytes:
    """A small RGB gradient as a valid PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 32, y * 32, 160)) for x in range(width))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"".join(
        [
            b"\x89PNG\r\n\x1a\n",
            chunk(b"IHDR", header),
            chunk(b"IDAT", zlib.compress(rows, 9)),
            chunk(b"IEND", b""),
        ]
    )


def make_pdf(text_lines: list[str]) -> bytes:
    """A one-page PDF 1.4 with Helvetica text and a correct cross-reference table."""
    shown = " ".join(
        "(" + line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ") '"
        for line in text_lines
    )
    stream = f"BT /F1 12 Tf 72 740 Td 18 TL {shown} ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


# ---------------------------------------------------------------------------------------
# Planning pages
# ---------------------------------------------------------------------------------------


@dataclass
class PlannedArticle:
    """An article page before rendering (related links need every page of the site)."""

    site: Site
    article: Article
    url: str
    category: str
    kind: str
    duplicate_of: str | None = None
    canonical: str | None = None
    encoding: str = "utf-8"
    header_charset: str | None = "utf-8"  # None: Content-Type without charset
    meta_charset: str | None = "utf-8"  # None: no <meta charset>
    truncate: bool = False


@dataclass
class Page:
    """One HTTP response as it goes into the WARC."""

    url: str
    body: bytes
    category: str
    kind: str
    lang: str | None
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)
    truncate_to: int | None = None
    duplicate_of: str | None = None
    server: str = "nginx"


class SpecialArticle(NamedTuple):
    kind: str
    topic: str
    title: str
    encoding: str
    header_charset: str | None
    meta_charset: str | None
    truncate: bool = False


SPECIAL_ARTICLES = [
    SpecialArticle(
        "latin1_labelled",
        "cuisine",
        "Les crêpes de la Chandeleur, simples et rapides",
        "iso-8859-1",
        "iso-8859-1",
        "iso-8859-1",
    ),
    SpecialArticle(
        "latin1_mislabelled_as_utf8",
        "kochen",
        "Zwetschgendatschi wie vom Bäcker",
        "iso-8859-1",
        "utf-8",
        "utf-8",
    ),
    SpecialArticle(
        "utf8_without_charset",
        "viajes",
        "¿Merece la pena viajar en temporada baja?",
        "utf-8",
        None,
        None,
    ),
    SpecialArticle(
        "truncated",
        "science",
        "Tracking {subject} with a network of cheap sensors",
        "utf-8",
        "utf-8",
        "utf-8",
        truncate=True,
    ),
]


def article_url(site: Site, article: Article, number: int) -> str:
    date = article.published
    path = site.url_pattern.format(
        section=site.sections.get(article.topic.name, "article"),
        slug=slugify(article.title),
        yyyy=f"{date.year}",
        mm=f"{date.month:02d}",
        dd=f"{date.day:02d}",
        n=number,
    )
    return f"https://{site.domain}{path}"


def plan_topic(topic: Topic, counter: Iterator[int]) -> list[PlannedArticle]:
    site = SITES[TOPIC_SITES[topic.name]]
    count = len(topic.titles)
    anchors = make_rng("anchors", topic.name).sample(topic.anchors, count) if topic.anchor else []
    planned = []
    for index, title in enumerate(topic.titles):
        anchor = anchors[index] if anchors else None
        article = compose_article(topic, make_rng("article", topic.name, index), title, anchor)
        url = article_url(site, article, next(counter))
        planned.append(PlannedArticle(site, article, url, "article", "regular"))
    return planned


def plan_near_duplicates(
    sources: list[PlannedArticle], counter: Iterator[int]
) -> list[PlannedArticle]:
    """Syndicated copies on another site: a headline prefix and one or two changed sentences."""
    site = SITES["newsbeat"]
    planned = []
    for index, source in enumerate(sources):
        rng = make_rng("syndicated", index)
        edited = rewrite_sentences(source.article, rng, count=1 + index % 2)
        prefix = SYNDICATION_PREFIXES[index % len(SYNDICATION_PREFIXES)]
        article = replace(
            edited,
            title=prefix + edited.title,
            author=f"{edited.author} ({source.site.name})",
        )
        url = article_url(site, article, next(counter))
        planned.append(
            PlannedArticle(site, article, url, "near_duplicate", "syndicated", source.url)
        )
    return planned


def plan_exact_duplicates(
    sources: list[PlannedArticle], counter: Iterator[int]
) -> list[PlannedArticle]:
    """Identical article text: two alternate URLs on the same site, two on a mirror site."""
    planned = []
    for source, suffix in zip(sources[:2], ["?output=print", "?amp=1"], strict=True):
        planned.append(
            replace(
                source,
                url=source.url + suffix,
                category="exact_duplicate",
                kind="alternate_url",
                duplicate_of=source.url,
                canonical=source.url,
            )
        )
    mirror = SITES["mirror"]
    for source in sources[2:]:
        url = article_url(mirror, source.article, next(counter))
        planned.append(
            replace(
                source,
                site=mirror,
                url=url,
                category="exact_duplicate",
                kind="mirrored",
                duplicate_of=source.url,
            )
        )
    return planned


def plan_pii_articles(counter: Iterator[int]) -> list[PlannedArticle]:
    values = pii_values()
    planned = []
    for index, (heading, paragraphs) in enumerate(parse_sections(PII_TEXT)):
        topic_name, title, *flags = (part.strip() for part in heading.split("|"))
        topic = TOPICS[topic_name]
        rng = make_rng("pii", index)
        article = compose_article(topic, rng, title, rng.choice(topic.anchors), share=0.45)
        blocks = [("p", [text.format_map(values)]) for text in paragraphs]
        last = len(article.blocks)
        position = last if "at end" in flags else rng.randint(1, last - 1)
        article.blocks[position:position] = blocks
        site = SITES[TOPIC_SITES[topic.name]]
        url = article_url(site, article, next(counter))
        planned.append(PlannedArticle(site, article, url, "pii", "contact_details"))
    return planned


def plan_special_articles(counter: Iterator[int]) -> list[PlannedArticle]:
    planned = []
    for index, spec in enumerate(SPECIAL_ARTICLES):
        topic = TOPICS[spec.topic]
        rng = make_rng("special", index)
        anchor = rng.choice(topic.anchors) if topic.anchor else None
        article = compose_article(topic, rng, spec.title, anchor)
        site = SITES[TOPIC_SITES[topic.name]]
        url = article_url(site, article, next(counter))
        planned.append(
            PlannedArticle(
                site,
                article,
                url,
                "special",
                spec.kind,
                encoding=spec.encoding,
                header_charset=spec.header_charset,
                meta_charset=spec.meta_charset,
                truncate=spec.truncate,
            )
        )
    return planned


def pick_comments(lang: str, rng: random.Random) -> list[tuple[str, str]]:
    count = rng.randint(2, 5) if lang == "en" else rng.randint(1, 3)
    texts = rng.sample(COMMENTS[lang], count)
    return [(rng.choice(COMMENTERS[lang]), text) for text in texts]


def render_planned(planned: list[PlannedArticle]) -> list[Page]:
    by_site: dict[str, list[PlannedArticle]] = defaultdict(list)
    for item in planned:
        by_site[item.site.domain].append(item)
    pages = []
    for item in planned:
        rng = make_rng("render", item.url)
        others = [(p.url, p.article.title) for p in by_site[item.site.domain] if p is not item]
        related = rng.sample(others, min(5, len(others)))
        markup = render_article_page(
            item.site,
            item.article,
            item.canonical or item.url,
            item.meta_charset,
            related,
            pick_comments(item.site.lang, rng),
        )
        body = markup.encode(item.encoding)  # strict: Latin-1 pages must really be Latin-1
        label = item.site.charset_label if item.header_charset == "utf-8" else item.header_charset
        pages.append(
            Page(
                url=item.url,
                body=body,
                category=item.category,
                kind=item.kind,
                lang=item.site.lang,
                content_type=f"text/html; charset={label}" if label else "text/html",
                truncate_to=len(body) * 11 // 20 if item.truncate else None,
                duplicate_of=item.duplicate_of,
                server=item.site.server,
            )
        )
    return pages


def spam_pages() -> list[Page]:
    pages = []
    for index, spec in enumerate(SPAM_PAGES):
        title, body, head = spec.build(make_rng("spam", index))
        markup = render_bare_page(title, body, head)
        pages.append(Page(spec.url, markup.encode("utf-8"), "spam", spec.kind, "en"))
    return pages


def special_responses(redirect_target: str) -> list[Page]:
    """Non-article responses: an error page, a redirect, an image and a PDF."""
    not_found = render_bare_page(
        "Page not found | Bytes & Beakers",
        "<h1>404 - Page not found</h1>\n"
        "<p>Sorry, we could not find the page you were looking for. It may have moved.</p>\n"
        '<p><a href="/">Back to the homepage</a></p>',
    )
    moved = render_bare_page(
        "301 Moved Permanently",
        f'<h1>Moved Permanently</h1>\n<p>The document has moved <a href="{attr(redirect_target)}">'
        "here</a>.</p>",
    )
    courier, bytes_, wanderlog = (SITES[k].domain for k in ("courier", "bytes", "wanderlog"))
    return [
        Page(
            f"https://{bytes_}/software/an-old-post-that-was-removed",
            not_found.encode("utf-8"),
            "special",
            "http_404",
            "en",
            status=404,
            server="cloudflare",
        ),
        Page(
            f"http://{courier}/story.php?id=4471",
            moved.encode("utf-8"),
            "special",
            "redirect_301",
            "en",
            status=301,
            content_type="text/html; charset=iso-8859-1",
            headers=[("Location", redirect_target)],
            duplicate_of=redirect_target,
            server="nginx/1.24.0",
        ),
        Page(
            f"https://{wanderlog}/images/logo-small.png",
            make_png(),
            "special",
            "image_png",
            None,
            content_type="image/png",
        ),
        Page(
            f"https://{courier}/documents/annual-report-2023.pdf",
            make_pdf(PDF_LINES),
            "special",
            "pdf",
            "en",
            content_type="application/pdf",
            server="nginx/1.24.0",
        ),
    ]


def build_pages() -> list[Page]:
    counter = itertools.count(1001)
    originals = [item for topic in TOPICS.values() for item in plan_topic(topic, counter)]
    english = [item for item in originals if item.site.lang == "en"]
    picks = make_rng("duplicates").sample(english, 14)
    planned = [
        *originals,
        *plan_near_duplicates(picks[:10], counter),
        *plan_exact_duplicates(picks[10:], counter),
        *plan_pii_articles(counter),
        *plan_special_articles(counter),
    ]
    redirect_target = next(item.url for item in originals if item.site is SITES["courier"])
    return [*render_planned(planned), *spam_pages(), *special_responses(redirect_target)]


# ---------------------------------------------------------------------------------------
# Writing WARC records
# ---------------------------------------------------------------------------------------


class RecordIds:
    """``<urn:uuid:...>`` record ids derived from a counter, so they never change."""

    def __init__(self) -> None:
        self.count = 0

    def next(self) -> str:
        self.count += 1
        return f"<urn:uuid:{uuid.uuid5(RECORD_NAMESPACE, f'record-{self.count}')}>"


def sha1_digest(data: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode("ascii")


def warc_date(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def warc_record(
    warc_type: str,
    moment: dt.datetime,
    record_id: str,
    content_type: str,
    block: bytes,
    extra: list[tuple[str, str]],
) -> bytes:
    headers = [
        ("WARC-Type", warc_type),
        ("WARC-Date", warc_date(moment)),
        ("WARC-Record-ID", record_id),
        ("Content-Length", str(len(block))),
        ("Content-Type", content_type),
        *extra,
    ]
    return format_record(headers, block)


def warcinfo_block(filename: str) -> bytes:
    fields = [
        ("software", "tokenmill data/make_sample.py"),
        ("format", "WARC File Format 1.0"),
        (
            "conformsTo",
            "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.0/",
        ),
        ("isPartOf", "tokenmill-sample"),
        ("description", f"{filename}: synthetic pages written for tokenmill, not a real crawl"),
        ("robots", "classic"),
        ("http-header-user-agent", USER_AGENT),
    ]
    return "".join(f"{name}: {value}\r\n" for name, value in fields).encode("utf-8")


def http_request(url: str) -> bytes:
    parts = urlsplit(url)
    request_lines = [
        f"GET {path_of(url) or '/'} HTTP/1.1",
        f"Host: {parts.netloc}",
        f"User-Agent: {USER_AGENT}",
        "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        "Accept-Language: en-US,en;q=0.5",
        "Connection: close",
    ]
    return ("\r\n".join(request_lines) + "\r\n\r\n").encode("ascii")


def http_response(page: Page, moment: dt.datetime) -> tuple[bytes, bytes]:
    """The HTTP block and its payload (cut short when the page is to be truncated)."""
    status = HTTPStatus(page.status)
    header_lines = [
        f"HTTP/1.1 {status.value} {status.phrase}",
        f"Date: {format_datetime(moment, usegmt=True)}",
        f"Server: {page.server}",
        f"Content-Type: {page.content_type}",
        f"Content-Length: {len(page.body)}",
        *(f"{name}: {value}" for name, value in page.headers),
        "Connection: close",
    ]
    payload = page.body if page.truncate_to is None else page.body[: page.truncate_to]
    return ("\r\n".join(header_lines) + "\r\n\r\n").encode("ascii") + payload, payload


def ip_address(url: str) -> str:
    host = urlsplit(url).hostname or ""
    return f"192.0.2.{hashlib.sha1(host.encode()).digest()[0] % 250 + 2}"


def page_records(
    page: Page, moment: dt.datetime, ids: RecordIds, warcinfo_id: str
) -> tuple[bytes, bytes]:
    """The request and response records of one page."""
    request_id, response_id = ids.next(), ids.next()
    common = [("WARC-Warcinfo-ID", warcinfo_id), ("WARC-IP-Address", ip_address(page.url))]
    request_block = http_request(page.url)
    request = warc_record(
        "request",
        moment,
        request_id,
        "application/http; msgtype=request",
        request_block,
        [
            *common,
            ("WARC-Target-URI", page.url),
            ("WARC-Block-Digest", sha1_digest(request_block)),
        ],
    )
    response_block, payload = http_response(page, moment)
    response_extra = [
        *common,
        ("WARC-Concurrent-To", request_id),
        ("WARC-Target-URI", page.url),
        ("WARC-Payload-Digest", sha1_digest(payload)),
        ("WARC-Block-Digest", sha1_digest(response_block)),
        ("WARC-Identified-Payload-Type", page.content_type.split(";")[0]),
    ]
    if page.truncate_to is not None:
        response_extra.append(("WARC-Truncated", "length"))
    response = warc_record(
        "response",
        moment,
        response_id,
        "application/http; msgtype=response",
        response_block,
        response_extra,
    )
    return request, response


def write_warc(path: Path, pages: list[Page], file_index: int, ids: RecordIds) -> list[dict]:
    """Write one WARC file; return a manifest row per response record."""
    start = CRAWL_START + dt.timedelta(hours=file_index)
    warcinfo_id = ids.next()
    info = warc_record(
        "warcinfo",
        start,
        warcinfo_id,
        "application/warc-fields",
        warcinfo_block(path.name),
        [("WARC-Filename", path.name)],
    )
    members = [gzip_member(info)]
    offset = len(members[0])
    manifest = []
    for index, page in enumerate(pages, start=1):
        moment = start + dt.timedelta(seconds=7 * index)
        request, response = map(gzip_member, page_records(page, moment, ids, warcinfo_id))
        offset += len(request)
        manifest.append(manifest_row(path.name, offset, len(response), page))
        offset += len(response)
        members += [request, response]
    path.write_bytes(b"".join(members))
    return manifest


def manifest_row(filename: str, offset: int, length: int, page: Page) -> dict:
    return {
        "file": filename,
        "offset": offset,
        "length": length,
        "url": page.url,
        "category": page.category,
        "kind": page.kind,
        "lang": page.lang,
        "status": page.status,
        "content_type": page.content_type,
        "truncated": page.truncate_to is not None,
        "duplicate_of": page.duplicate_of,
    }


def split_into_files(pages: list[Page], count: int) -> list[list[Page]]:
    shuffled = list(pages)
    make_rng("file-order").shuffle(shuffled)
    return [shuffled[index::count] for index in range(count)]


# ---------------------------------------------------------------------------------------
# wiki.jsonl, manifest.jsonl and README.md
# ---------------------------------------------------------------------------------------


def parse_sections(text: str) -> list[tuple[str, list[str]]]:
    """Split a text bank into ("# heading", paragraphs) sections; paragraphs are unwrapped."""
    articles = []
    for chunk in re.split(r"^# ", text.strip(), flags=re.MULTILINE):
        if not chunk.strip():
            continue
        title, _, rest = chunk.partition("\n")
        paragraphs = [prose(p) for p in re.split(r"\n\s*\n", rest) if p.strip()]
        articles.append((title.strip(), paragraphs))
    return articles


def near_copy(
    articles: list[tuple[str, list[str]]], source: str, title: str, edits: list[tuple[str, str]]
) -> tuple[str, list[str]]:
    paragraphs = next(body for name, body in articles if name == source)
    text = "\n\n".join(paragraphs)
    for old, new in edits:
        if old not in text:
            raise ValueError(f"near copy edit {old!r} not found in {source!r}")
        text = text.replace(old, new)
    return title, text.split("\n\n")


def wiki_entries() -> list[dict]:
    articles = parse_sections(WIKI_TEXT)
    articles.insert(WIKI_NEAR_COPY_POSITION, near_copy(articles, *WIKI_NEAR_COPY))
    return [
        {
            "id": f"wiki-{number:04d}",
            "url": WIKI_BASE + quote(title.replace(" ", "_"), safe="_()'"),
            "text": "\n\n".join([title, *paragraphs]),
        }
        for number, (title, paragraphs) in enumerate(articles, start=1)
    ]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    path.write_text(text, encoding="utf-8")


def count_table(manifest: list[dict]) -> str:
    counts = Counter((row["category"], row["kind"], row["lang"] or "-") for row in manifest)
    rows = [
        f"| {category} | {kind} | {lang} | {number} |"
        for (category, kind, lang), number in sorted(counts.items())
    ]
    return "\n".join(["| category | kind | lang | pages |", "|---|---|---|---|", *rows])


README_TEMPLATE = """\
# Sample data

A small, synthetic corpus for tokenmill's quickstart, tests and demos. Everything here is
generated by `data/make_sample.py` (standard library and support/warcs.py, seeded, fixed dates and record
ids); regenerate it with

    python -m data.make_sample            # writes data/sample/
    python -m data.make_sample OUTDIR     # or somewhere else

and two runs give byte-identical files.

## Files

- `web-000.warc.gz`, `web-001.warc.gz`, `web-002.warc.gz`: WARC/1.0 files in Common Crawl's
  layout: every record is its own gzip member; each file starts with a `warcinfo` record,
  followed by a `request` and a `response` record per page ({pages} pages in all). Responses
  are complete HTTP/1.1 messages (status line, `Content-Type`, `Content-Length`, body) and
  carry `WARC-Target-URI`, `WARC-Date`, `WARC-Concurrent-To`, and SHA-1 (base32)
  `WARC-Block-Digest` / `WARC-Payload-Digest` values.
- `wiki.jsonl`: {wiki} short encyclopedia-style articles, one JSON object per line with `id`,
  `url` and `text` (title on the first line, paragraphs separated by blank lines).
  `Sundial` and `Sundial (timekeeping)` are near copies of each other (a few words differ).
- `manifest.jsonl`: the ground truth for every response record: `file`, `offset` and
  `length` of its gzip member, `url`, `category`, `kind`, `lang`, `status`, `content_type`,
  `truncated`, and `duplicate_of` (the URL a duplicate copies, or a redirect's target).
- `README.md`: this file.

## What the pages are

HTML pages are HTML5 with `<html lang>`, `<title>`, `<meta charset>`, a site header with a
`<nav>` menu, one `<article>` (headline, byline, paragraphs, sometimes a list or a table), a
"related articles" sidebar, a `<section class="comments">`, a cookie banner and a footer.
Six site templates with different markup and class names are used.

- `article`: regular articles in English (ten topics over four sites), German, French and
  Spanish, composed from hand-written sentence banks.
- `near_duplicate`: English articles syndicated on `www.newsbeat-hub.example` with a
  headline prefix, one or two sentences replaced, and a different template.
- `exact_duplicate`: the same article text at another URL (`?output=print` / `?amp=1` on the
  same site, or a copy on `content-mirror.example`).
- `spam`: keyword stuffing, a link directory, a navigation-only page, lorem ipsum, a page
  with almost no text, a page of JavaScript code as text, repeated lines, a doorway page.
- `pii`: English articles with made-up contact details: e-mail addresses at example
  domains; US, UK, German and French phone numbers from ranges reserved for fiction or
  documentation; IPv4 addresses from documentation ranges; an SSN-shaped number; a
  Luhn-valid test card number ({card}); and IBANs with valid check digits
  ({iban_gb} and {iban_de}).
- `special`: a 404 page, a 301 redirect, an `image/png` and an `application/pdf` response, a
  Latin-1 page labelled `charset=iso-8859-1`, a Latin-1 page labelled `charset=utf-8`
  (mislabelled), a UTF-8 page with no charset in the header or the HTML, and a response
  whose body is cut short mid-HTML (`WARC-Truncated: length`; its HTTP `Content-Length`
  gives the full size).

{counts}

## Licence

All text, markup and data in this directory were written for the tokenmill project and are
distributed under the same licence as the rest of the repository (Apache-2.0). Nothing was
copied from Common Crawl or any other corpus. Names, addresses, numbers and domains are
fictional (`.example` and `example.com/.org/.net` domains).
"""


def render_readme(manifest: list[dict], wiki: list[dict]) -> str:
    values = pii_values()
    return README_TEMPLATE.format(
        pages=len(manifest),
        wiki=len(wiki),
        counts=count_table(manifest),
        card=values["card"],
        iban_gb=values["iban_gb"],
        iban_de=values["iban_de"],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write tokenmill's synthetic sample data.")
    parser.add_argument(
        "outdir",
        nargs="?",
        type=Path,
        default=Path(__file__).resolve().parent / "sample",
        help="output folder (default: data/sample next to this script)",
    )
    outdir = parser.parse_args(argv).outdir
    outdir.mkdir(parents=True, exist_ok=True)
    ids = RecordIds()
    manifest = []
    for index, pages in enumerate(split_into_files(build_pages(), WARC_FILE_COUNT)):
        manifest += write_warc(outdir / f"web-{index:03d}.warc.gz", pages, index, ids)
    wiki = wiki_entries()
    write_jsonl(outdir / "manifest.jsonl", manifest)
    write_jsonl(outdir / "wiki.jsonl", wiki)
    (outdir / "README.md").write_text(render_readme(manifest, wiki), encoding="utf-8")
    print(f"wrote {len(manifest)} pages in {WARC_FILE_COUNT} WARC files and {len(wiki)} wiki")
    print(f"articles to {outdir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
