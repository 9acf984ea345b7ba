"""Generate the demo corpus: hand-written post templates about AI / ML / data science and
everyday life (with lookalike traps), rendered as Twitter API v1.1 JSON.

Everything here was written for goldloop; nothing is copied from real posts. The generator is
seeded and byte-for-byte deterministic (``python -m datasets.demo.generate``), and produces:

* originals (about 28% ``ai``): English plus some French, Spanish and German posts, some
  longer than 140 characters (``truncated`` with ``extended_tweet``), with hashtags,
  mentions, ``t.co`` links (``entities.urls`` with ``expanded_url``), photos, emoji, ``&amp;``;
* retweets (``RT @x: ...`` with the full original in ``retweeted_status``);
* near copies: the same text with other links, other case or spacing, by other accounts.

Gold labels (``ai`` / ``not_ai``) follow the template's class; retweets and copies inherit them.
"""
from __future__ import annotations

import csv
import gzip
import io
import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from datasets import cli
from datasets.demo import GOLD_PATH, TWEETS_PATH
from datasets.results import StepResult

# --------------------------------------------------------------------------------------------
# Hand-written vocabulary. {slot} fills come from SLOTS; {n}/{n2}/{pct}/{a}/{b}/{age} are numbers.
# --------------------------------------------------------------------------------------------
SLOTS: dict[str, Sequence[str]] = {
    "tool": ["PyTorch", "TensorFlow", "scikit-learn", "XGBoost", "LightGBM", "Keras", "JAX", "pandas", "Polars",
             "MLflow", "Airflow", "Kubeflow", "spaCy", "DuckDB", "Jupyter", "Ray", "ONNX Runtime", "Snorkel",
             "Weights & Biases", "Hugging Face Transformers", "statsmodels", "tidymodels"],
    "model2": ["fine-tuned BERT", "plain logistic regression", "small transformer", "random forest",
               "gradient boosted ensemble", "two-tower model"],
    "model": ["transformer", "random forest", "gradient boosted tree model", "logistic regression", "CNN", "LSTM",
              "diffusion model", "language model", "text classifier", "embedding model", "recommender",
              "autoencoder", "BERT model", "graph neural network", "linear model", "vision transformer"],
    "task": ["sentiment analysis", "churn prediction", "fraud detection", "image segmentation",
             "named entity recognition", "time series forecasting", "anomaly detection", "text classification",
             "demand forecasting", "object detection", "speech recognition", "topic modeling", "entity resolution",
             "document retrieval", "spam filtering", "credit scoring"],
    "metric": ["F1", "AUC", "accuracy", "recall", "precision", "macro F1", "log loss", "top-5 accuracy",
               "mean average precision"],
    "concept": ["overfitting", "data leakage", "class imbalance", "the bias-variance tradeoff", "vanishing gradients",
                "label noise", "concept drift", "p-hacking", "the multiple comparisons problem", "Bayesian priors",
                "cross-validation", "feature engineering", "hyperparameter tuning", "prompt engineering",
                "fine-tuning", "retrieval-augmented generation", "quantization", "tokenization", "self-attention",
                "backpropagation", "dropout", "batch normalization", "confidence intervals", "the bootstrap",
                "regression to the mean", "Simpson's paradox", "active learning", "weak supervision",
                "probability calibration", "word embeddings"],
    "opt": ["quantization", "pruning", "distillation", "an ONNX export", "request batching", "caching the embeddings",
            "mixed precision"],
    "role": ["ML engineer", "data scientist", "MLOps engineer", "research scientist", "data engineer",
             "applied scientist", "analytics engineer", "NLP engineer", "statistician"],
    "event": ["PyData", "the local ML meetup", "our data guild", "a NeurIPS workshop", "the R user group",
              "DataFest", "the MLOps community call", "a university seminar"],
    "feature": ["new tracing UI", "faster data loader", "native GPU support", "lazy evaluation", "model registry",
                "experiment comparison view"],
    "llm": ["7B model", "small open LLM", "instruction-tuned model", "distilled language model"],
    "infra": ["Kubernetes", "two Docker containers", "a feature store", "a model registry", "Airflow DAGs",
              "one Postgres table"],
    "ordinal": ["2nd", "3rd", "7th", "12th", "25th", "41st"],
    "dish": ["lasagna", "vegetable curry", "shakshuka", "mac and cheese", "fish tacos", "mushroom risotto",
             "lentil soup", "banana bread", "pancakes", "homemade pizza", "chili", "dumplings", "fish & chips", "mac & cheese",
             "bangers & mash"],
    "road": ["ring road", "bridge", "highway", "main street", "bypass"],
    "month": ["March", "April", "May", "October", "November", "December"],
    "pet": ["cat", "dog", "parrot", "rabbit", "hamster", "puppy", "kitten"],
    "book": ["that huge fantasy novel", "my book club book", "the cookbook I got for my birthday",
             "a crime novel", "the biography everyone is talking about"],
    "team": ["the Hawks", "the Rovers", "City", "the Lions", "United", "the Comets", "the Bears"],
    "relative": ["sister", "brother", "mum", "dad", "grandma", "grandpa", "cousin", "aunt", "uncle"],
    "color": ["Sage green", "Warm yellow", "Navy blue", "Terracotta", "Off-white"],
    "band": ["the band", "the headliner", "my favourite band", "the opening act"],
    "food": ["avocados", "oat milk", "bananas", "fresh bread", "eggs", "strawberries", "ice cream"],
    "city": ["Lisbon", "Montreal", "Oslo", "Melbourne", "Edinburgh", "Kyoto", "Denver", "Vienna", "Cape Town"],
    "weekday": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
    "thing": ["skateboard", "diary", "walkman", "photo album", "football jersey", "guitar"],
    "show": ["that baking show", "the new detective series", "a nature documentary", "the sitcom everyone quotes"],
    "trivia": ["volcanoes", "the moon landing", "cheese", "penguins", "ancient Rome"],
    "brand": ["sportswear", "sunglasses", "watch", "perfume"],
    "car": ["hatchback", "pickup", "station wagon", "compact SUV"],
    "veg": ["tomatoes", "courgettes", "beans", "peppers", "cucumbers"],
    "place": ["lake", "harbour", "river", "bay", "hills", "old bridge"],
    "sport": ["yoga", "pilates", "spin", "climbing", "boxing"],
    "hour": ["4", "5", "6", "7"],
    "garment": ["scarf", "hat", "sweater", "pair of socks"],
    "fixable": ["bike chain", "leaky tap", "wobbly table", "garden gate", "washing machine door"],
    "furniture": ["armchair", "bookshelf", "coffee table", "lamp", "mirror"],
    "plantname": ["Gerald", "Susan", "Pickle", "Fernando", "Basil"],
    "movie": ["movie", "film", "double feature", "matinee"],
    "smallthing": ["sock", "shoelace", "charging cable", "Lego brick"],
    "bake": ["sourdough", "croissants", "bagels", "focaccia"],
    "city_fr": ["Paris", "Lyon", "Nantes", "Lille", "Bordeaux"],
    "city_es": ["Sevilla", "Madrid", "Valencia", "Bilbao", "Málaga"],
    "city_de": ["Berlin", "Hamburg", "München", "Köln", "Leipzig"],
}

AI_EN = [
    "{concept} is still the number one reason {model}s fail in production",
    "Swapped our {model} for a {model2} on {task} and {metric} went from 0.{a} to 0.{b}",
    "Anyone else getting NaN losses with {tool} after upgrading? Learning rate is already tiny",
    "New blog post: a gentle introduction to {concept} with {tool}",
    "Our {task} model is {n}x faster after {opt}",
    "If your test set overlaps your training set, your {metric} is lying to you",
    "Hiring a {role} to help us ship {task} at scale. Remote friendly, DMs open",
    "Spent the whole day labeling examples for our {task} classifier. Weak supervision cannot come soon enough",
    "Asked an LLM for a citation and it invented a paper, authors and all. Hallucinations are not solved",
    "{tool} just shipped a new release and the {feature} alone is worth the upgrade",
    "Gave a talk on {concept} at {event} today, slides are up",
    "Stats reminder: correlation is not causation, and p = 0.049 is not a discovery",
    "Watching the validation loss go down at 2am like it's a cup final",
    "Drift alert fired again on the {task} service. Retraining job kicks off tonight",
    "Our support chatbot now resolves {pct}% of tickets on its own. We still review every answer",
    "Finished {ordinal} on the {task} leaderboard with a boring {model}. Feature engineering beats architecture",
    "Me: please be concise. The language model: four paragraphs and a summary table",
    "Week {n} of the deep learning course: {concept} finally clicked",
    "Data science is 80% cleaning CSV files and 20% complaining about cleaning CSV files",
    "Just deployed a {model} behind a feature flag. Shadow traffic first, always",
    "Diff-in-diff, instrumental variables or regression discontinuity: which do you reach for first?",
    "Trained a tiny GPT on my grocery lists. It now suggests oat milk for everything",
    "Hyperparameter search ran all night. Best config: the defaults",
    "Reviewer 2 wants more ablations on the {concept} section. Of course they do",
    "Our vision model flagged {n} defects on the assembly line that the manual check missed",
    "Synthetic training data helped our {task} model more than another month of scraping",
    "pgvector or a dedicated vector database for a RAG prototype? Asking for a friend",
    "Neural networks are very flexible curve fitting and that is perfectly fine",
    "The {model} predicts churn better than the vendor's black box, and we can explain it",
    "GPU queue is {n} hours long, so I guess I'm tuning the {model} on CPU today",
    "Bayesian A/B test says variant B wins with {pct}% probability. Ship it?",
    "Feature store migration done: {n} features and zero training-serving skew (so far)",
    "Great paper on {concept} for {model}s, the appendix alone is worth it",
    "SHAP values showed our {model} was keying on the timestamp column. Leakage strikes again",
    "Training on 8 GPUs, debugging on 1, crying on 0",
    "Robots learning to fold laundry with reinforcement learning is the future I was promised",
    "Do the sample size calculation before the experiment, not after. Please",
    "Open-sourced our {task} benchmark today: {n}k labeled examples under CC BY",
    "The pipeline broke because someone renamed a column upstream. Schema checks, people",
    "Fine-tuned a {llm} on our docs and it finally stopped recommending deprecated APIs",
    "Every {task} project starts with 'we have lots of data' and ends with 'the labels are wrong'",
    "Confusion matrix looks great until you notice the minority class has {n} examples",
    "Our MLOps setup in one line: {infra}, a cron job and a lot of hope",
    "Explaining {concept} to my manager with a pizza analogy. It almost worked",
    "Use a time-based split, not a random one, if your data has dates. Learned that the hard way",
    "Benchmarked {n} embedding models for semantic search; the smallest one won on our data",
    "Quantized the {llm} to 4 bits and it still answers our support questions just fine",
    "The most underrated skill in machine learning is looking at the data",
    "Artificial intelligence won't replace analysts; analysts who use it will replace those who don't",
    "Our recommender keeps suggesting umbrellas to people in the desert. Time to check the features",
    "Moving the nightly job from pandas to Polars cut it from {n} minutes to {n2}",
    "Tokenization bugs are the silent killers of {task} pipelines",
    "Prompt injection is the SQL injection of this decade",
    "Attention heatmaps are pretty, but they are not explanations",
    "Bootstrapped confidence intervals on the {metric} before claiming we beat the baseline",
    "Label noise around {pct}% in the crowd labels; the label model cleaned up most of it",
    "Fitting a mixed-effects model to data from {n} hospitals this week, send coffee",
    "The loss went flat at epoch {n}. Early stopping saved us {n2} GPU hours",
    "Model card written, datasheet written, now the model can go to production",
    "Kernel density plots > histograms, fight me",
    "Is {concept} overrated or am I just tired? Asking the {role}s here",
    "Our {model} beat the heuristics by {n} points of {metric} on the held-out month",
    "Three weeks of {task} work and the biggest gain came from deduplicating the training set",
    "Ran {tool} on the full {n} million rows without running out of memory. Small miracles",
    "Interview tip for {role} roles: explain {concept} without any jargon",
    "Speech-to-text on our meeting recordings is scary good now",
    "The chatbot wrote the unit tests. The unit tests test nothing",
    "Q&A on {concept} at {event} tomorrow, bring your hardest questions",
    "Our R&D team now tracks every {task} experiment in {tool}",
    "Data quality > model size. Every time",
]

EVERYDAY_EN = [
    "Made {dish} for dinner and the kids actually ate it",
    "Traffic on the {road} is a nightmare this morning",
    "Can't believe it's already {month}",
    "Coffee number {n} and it's not even noon",
    "Our {pet} learned to open the fridge. We are doomed",
    "Rain all weekend, perfect excuse to finish {book}",
    "Who's watching the match tonight? {team} all the way",
    "New running shoes, {n}k this morning, legs are jelly",
    "Happy birthday to my favourite {relative}!",
    "Finally repainted the kitchen. {color} was the right call",
    "Concert last night was unreal, {band} played for almost three hours",
    "The grocery store was out of {food} again",
    "This {weekday} meeting could have been an email",
    "Garden update: the {veg} are winning, the lettuce is losing",
    "Just booked flights to {city}! Any tips for a first visit?",
    "The bus was {n} minutes late. Again",
    "Baking bread on a {weekday} afternoon is my therapy",
    "Anyone know a good plumber in {city}? Asking urgently",
    "Sunset over the {place} tonight was ridiculous",
    "Moving apartments this weekend, please send {food}",
    "My {relative} just beat me at chess for the {ordinal} time in a row",
    "Why does the {pet} always sit on the exact page I'm reading",
    "First swim of the year in the {place}, the water was freezing and I loved it",
    "Found my old {thing} in the attic, instant nostalgia",
    "Farmers market haul: {food}, honey and way too many flowers",
    "Power cut on our street for {n} hours, reading by candlelight like it's 1850",
    "{weekday} mood: pajamas and {dish}",
    "Dentist appointment done, now I can eat {food} in peace",
    "The library book sale is dangerous for my bookshelf, came home with {n} books",
    "Tried a new {sport} class, I can no longer feel my shoulders",
    "Kid's school play on {weekday}, I'm more nervous than they are",
    "Spring cleaning found {n} single socks and zero pairs",
    "Lost my keys for the {ordinal} time this week",
    "Our neighbour's rooster starts at {hour}am sharp",
    "Homemade {dish} turned out better than the restaurant version",
    "The train to {city} is packed, standing all the way",
    "Knitting my first {garment}, it is mostly holes so far",
    "Watched three episodes of {show} and now it's 2am",
    "Snow in {month}? Seriously?",
    "Our team won the pub quiz thanks to one question about {trivia}",
    "Grandma's recipe for {dish} is still the best thing ever",
    "Working from the kitchen table again, the {pet} is my coworker",
    "Hot chocolate and a blanket, that's the plan for {weekday}",
    "Fixed the {fixable} myself, feeling unstoppable",
    "Opening day at the ballpark, {team} fans everywhere, hot dogs and sunshine",
    "{n} minutes on hold with the bank to change one address",
    "The {pet} stole a whole sausage off the counter and regrets nothing",
    "Neighbours are renovating again, drilling since {hour}am on a {weekday}",
    "Picked up a free {furniture} from the curb, it's perfect",
    "Wedding season: {n} invitations and one suit",
    "Salt & vinegar crisps are the best flavour and I will not be taking questions",
    "Weekend at a tiny B&B by the {place}, no wifi, no regrets",
    "Tax forms done. I deserve a medal, or at least {dish}",
    "Bought a plant, named it {plantname}, {plantname} is already wilting",
    "Ferry to the island was cancelled, so we had fish and chips on the pier instead",
    "Cleaned out the fridge and found {food} from last {month}",
    "My {relative} sent me {n} voice messages about the neighbour's fence",
]

TRAPS_EN = [
    "Big game tonight! {team} need a win to stay in it",
    "Wings, {dish} and snacks ready for the big game",
    "My phone data plan ran out on day {n} of the month, how",
    "Switching carriers for a cheaper data plan with {n} more gigabytes",
    "Roaming data charges on holiday in {city} cost more than the hotel",
    "Fitness tracker says I got {n} minutes of deep sleep. Explains a lot",
    "Deep sleep, deep dish pizza and a deep bath. Perfect {weekday}",
    "Reading about the neural pathways of love and now I miss my {relative} even more",
    "Poets say love rewires your neural pathways. I say it's the coffee",
    "Dad finally set up his model train set in the basement, it even has a tiny station",
    "Model railway show this weekend, the miniature trees are adorable",
    "My friend is modeling for a new {brand} campaign, so proud",
    "The new {car} model has heated seats and I am sold",
    "Saw a python at the reptile house, it was longer than my car",
    "The python at the pet shop was shedding its skin, fascinating and gross",
    "Learning to drive at {age} and the clutch is my enemy",
    "My teenager is learning to drive and I am learning to pray",
    "Rewatching all the Transformers movies this weekend, Optimus Prime still gives me chills",
    "Found my old Transformers toys from the 80s, they're worth a fortune now",
    "Not a single cloud over {city} today, finally",
    "Cloud storage full again, time to delete {n} photos of my cat",
    "Dark clouds rolling in over {city}, the picnic is doomed",
    "Took a random trail through the forest near {city} and got gloriously lost",
    "Forest hike today: {n} km, one deer and zero phone signal",
    "Random forest walk with the {pet} turned into a {n} hour adventure",
    "Baby is in the four month sleep regression and so are we",
    "The referee's bias against {team} in that match was unbelievable",
    "Popcorn kernels stuck in my teeth for the whole {movie}",
    "Family tree research: turns out we're related to a pirate",
    "Learning Spanish on my phone, day {n} of my streak",
    "The new gym machine took me {n} minutes to figure out. Learning curve is real",
    "I predict rain for the {weekday} picnic, as always",
    "My prediction: {team} win by ten",
    "Fantasy league stats say my whole team is injured",
    "Cluster headache all {weekday}, staying in the dark",
    "My robot vacuum ate a {smallthing} and now it's sulking under the couch",
    "Training for a half marathon, week {n}: everything hurts",
    "Training the {pet} to sit is going about as well as you'd expect",
    "Data from my running watch says I'm slower than last year. Rude",
    "Big data? No, big dinner. {dish} for twelve people",
    "Bonsai tree pruning on a {weekday} morning is the most relaxing hobby",
    "Watched a documentary on the neural development of octopuses, what creatures",
    "Deep learning? I'm deeply learning how to make {bake}",
    "Oil pipeline protest in downtown {city}, streets closed all afternoon",
    "New glasses, my vision is crisp for the first time in {n} years",
    "Ai Weiwei exhibition at the museum was stunning",
    "Weather model says sunny, my knee says rain",
    "Teaching grandma to use video calls, she is learning faster than me",
    "Machine washed my wool {garment} and now it fits the {pet}",
    "Our vending machine only accepts exact change. Learning experience",
    "The model plane club meets on {weekday}s in the park",
    "Supermodel energy this {weekday}, new haircut",
    "Intelligence briefing? No, just my mum telling me who got engaged",
    "Smart watch says I walked {n} steps. Feels like more",
    "Transformer box on our street blew up, whole block without power for {n} hours",
    "Big game hunting shows should be banned, fight me",
    "My kid's science fair volcano is a better model than anything I built at school",
]

AI_FOREIGN = {
    "fr": [
        "Notre modèle de classification atteint {pct}% de précision sur le jeu de test",
        "L'intelligence artificielle ne remplacera pas les enseignants, mais elle change déjà leur métier",
        "Atelier apprentissage automatique ce soir à {city_fr}, venez nombreux",
        "Les réseaux de neurones, c'est surtout beaucoup d'algèbre linéaire",
        "Nouveau tutoriel : nettoyer ses données avec pandas avant d'entraîner un modèle",
        "Le surapprentissage, c'est quand le modèle apprend le bruit au lieu du signal",
        "Conférence sur l'IA générative demain matin à {city_fr}, qui vient ?",
        "Mon réseau de neurones confond encore les chats et les renards",
    ],
    "es": [
        "Nuestro modelo de lenguaje ya responde en español y en catalán",
        "Curso gratuito de aprendizaje automático a partir del lunes",
        "La inteligencia artificial en la medicina: promesas y riesgos",
        "Limpiar los datos lleva más tiempo que entrenar la red neuronal",
        "Hoy presenté mi tesis sobre detección de fraude con árboles de decisión",
        "¿Alguien recomienda un libro de estadística bayesiana?",
        "Ciencia de datos en {city_es}: meetup esta noche",
        "El modelo funciona en el portátil pero no en producción, clásico",
    ],
    "de": [
        "Unser neuronales Netz erkennt jetzt Risse in Brücken",
        "Maschinelles Lernen ohne Statistik ist nur Raten",
        "Künstliche Intelligenz im Mittelstand: Vortrag morgen in {city_de}",
        "Datenbereinigung dauert länger als das Training des Modells",
        "Endlich das Sprachmodell auf unserem eigenen Server zum Laufen gebracht",
        "Kreuzvalidierung nicht vergessen, sonst lügt die Genauigkeit",
        "Neuer Blogartikel über Transformer-Modelle und Aufmerksamkeit",
        "Wer kennt ein gutes Buch über Data Science mit Python?",
    ],
}

NOT_AI_FOREIGN = {
    "fr": [
        "Il pleut encore à {city_fr}, quelle surprise",
        "Le match de ce soir va être serré, allez les Bleus !",
        "J'ai enfin réussi mes crêpes, la première était ratée comme toujours",
        "Week-end à la campagne, pas de réseau et c'est parfait",
        "Mon forfait de données est déjà épuisé, on est le {n}",
        "Sommeil profond cette nuit, je me sens comme neuf",
        "Les bouchons sur le périphérique ce matin, un cauchemar",
        "Petit café en terrasse au soleil à {city_fr}, le bonheur",
    ],
    "es": [
        "Qué calor hace hoy en {city_es}",
        "Partido grande esta noche, ¡vamos!",
        "Mi plan de datos se acabó otra vez antes de fin de mes",
        "Paella de domingo con toda la familia",
        "Aprendiendo a conducir a los {age}, mi profesor tiene mucha paciencia",
        "El tren a {city_es} llegó con {n} minutos de retraso",
        "Por fin vacaciones, nos vamos a la playa",
        "Mi gato duerme profundamente sobre el teclado",
    ],
    "de": [
        "Endlich Wochenende, ab in den Wald",
        "Mein Zug nach {city_de} hat wieder {n} Minuten Verspätung",
        "Tiefschlaf dank neuer Matratze, sehr zu empfehlen",
        "Großes Spiel heute Abend, ich bin nervös",
        "Das Datenvolumen ist schon wieder aufgebraucht",
        "Spargelzeit! Heute gibt es Spargel mit Kartoffeln",
        "Modelleisenbahn im Keller aufgebaut, die Kinder lieben sie",
        "Regen, Regen, Regen in {city_de}",
    ],
}

# Second sentences that push a post past 140 characters (truncated text + extended_tweet).
FOLLOW_UPS = {
    "ai": [
        "Full write-up with code, the evaluation notebook and every failed experiment is linked below, "
        "feedback very welcome.",
        "Lessons: look at your data first, build the dumbest baseline second, and only then reach for "
        "anything fancy.",
        "We will share the training recipe, the evaluation script and the data card once legal signs off, "
        "hopefully next week.",
        "Details on how we split the data, tuned the thresholds and monitored drift after launch are in "
        "the thread below.",
        "Still not sure whether the gain comes from the architecture or from the cleaner labels, so more "
        "ablations are coming.",
    ],
    "not_ai": [
        "Anyway, if anyone needs me I will be on the couch with a blanket, a mug of tea and the entire box "
        "of cookies.",
        "Photos to follow once I find the charger, which is probably in the same box as everything else I "
        "own right now.",
        "Not complaining though, it was still the best part of the week and I would happily do it all over "
        "again tomorrow.",
        "Tell me I'm not the only one this happens to, because right now it feels like the universe is "
        "having a laugh.",
        "Next time I am bringing snacks, a spare jacket and a lot more patience than I had this time "
        "around, lesson learned.",
    ],
}

OPENERS = {
    "ai": ["Hot take:", "TIL", "PSA:", "Honest question:", "Unpopular opinion:", "Friday thought:",
           "Reminder:", "Small win:"],
    "not_ai": ["Ugh.", "Okay so", "Update:", "Honestly,", "Small win:", "Confession:", "Reminder:", "PSA:"],
}
EMOJI = {
    "ai": ["🤖", "📊", "📈", "🧠", "🔥", "😅", "🚀", "✨", "🤯", "👀"],
    "not_ai": ["☕", "🌧️", "🐶", "🐱", "😴", "🎉", "❤️", "🍕", "🙃", "🌞", "🚆", "😅", "🔥", "✨", "<3"],
}
HASHTAGS = {
    "ai": ["AI", "MachineLearning", "DataScience", "DeepLearning", "LLM", "MLOps", "Statistics", "NLP", "Python",
           "100DaysOfCode", "GenAI", "BigData", "rstats", "ComputerVision", "PyData", "ArtificialIntelligence"],
    "not_ai": ["MondayMotivation", "foodie", "travel", "weekend", "gameday", "gardening", "running", "coffee",
               "tbt", "nofilter", "family", "music", "photography", "weather", "mood"],
    "trap": ["learning", "data", "python", "transformers", "cloud", "bigdata", "model"],
}
LINK_SITES = {
    "ai": ["mlnotes.example.com/posts", "papers.example.org/abs", "code.example.com/goldloop-demo",
           "datablog.example.net/2020", "video.example.com/talks"],
    "not_ai": ["recipes.example.com/r", "news.example.net/local", "photos.example.org/p", "tickets.example.com/event",
               "shop.example.com/item"],
}
SOURCES = [
    ("Twitter for iPhone", "http://twitter.com/download/iphone"),
    ("Twitter for Android", "http://twitter.com/download/android"),
    ("Twitter Web App", "https://mobile.twitter.com"),
    ("TweetDeck", "https://about.twitter.com/products/tweetdeck"),
    ("Buffer", "https://buffer.com"),
    ("Hootsuite Inc.", "https://www.hootsuite.com"),
    ("IFTTT", "https://ifttt.com"),
]
HANDLE_FIRST = ["mara", "tom", "lena", "raj", "sofia", "kwame", "ines", "piotr", "yuki", "omar", "hanna", "leo",
                "priya", "jonas", "ama", "diego", "elif", "noah", "zoe", "bruno", "mei", "ivan", "nadia", "sam"]
HANDLE_SUFFIX = ["_codes", "data", "_ml", "runs", "bakes", "42", "_io", "stats", "travels", "_writes", "cooks",
                 "_dev", "photo", "_garden", "reads", "plays"]

# Class mix of the originals: (pool, label, lang, how many).
MIX: list[tuple[str, str, str, int]] = [
    ("ai_en", "ai", "en", 330), ("ai_fr", "ai", "fr", 18), ("ai_es", "ai", "es", 16), ("ai_de", "ai", "de", 16),
    ("everyday_en", "not_ai", "en", 600), ("trap_en", "not_ai", "en", 300),
    ("not_ai_fr", "not_ai", "fr", 24), ("not_ai_es", "not_ai", "es", 24), ("not_ai_de", "not_ai", "de", 24),
]
POOLS: dict[str, Sequence[str]] = {
    "ai_en": AI_EN, "everyday_en": EVERYDAY_EN, "trap_en": TRAPS_EN,
    **{f"ai_{lang}": t for lang, t in AI_FOREIGN.items()},
    **{f"not_ai_{lang}": t for lang, t in NOT_AI_FOREIGN.items()},
}
N_RETWEETS, N_LINK_COPIES, N_TEXT_COPIES = 170, 40, 35
START = datetime(2020, 3, 1, tzinfo=timezone.utc)
SPAN_S = 61 * 24 * 3600
TWITTER_EPOCH_MS = 1288834974657
_DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
_SLOT = re.compile(r"\{(\w+)\}")
_HASHTAG = re.compile(r"#(\w+)")
_MENTION = re.compile(r"@(\w+)")


@dataclass
class Post:
    """One original post before rendering: its text pieces and metadata."""

    label: str
    lang: str
    text: str  # plain text with t.co links in place
    links: dict[str, str] = field(default_factory=dict)  # t.co url -> expanded url
    media: str | None = None  # t.co url of an attached photo


class Generator:
    """Seeded builder of the demo corpus (``run()`` returns the v1.1 objects and gold labels)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.users = self._users()
        self.used_ids: set[int] = set()

    def _users(self) -> list[dict[str, Any]]:
        handles = sorted({f"{f}{s}" for f in HANDLE_FIRST for s in HANDLE_SUFFIX})
        picked = self.rng.sample(handles, 180)
        return [{"id": 900_000_000 + i * 7919, "id_str": str(900_000_000 + i * 7919), "name": h.split("_")[0].title(),
                 "screen_name": h, "followers_count": self.rng.randint(3, 25_000), "verified": False}
                for i, h in enumerate(picked)]

    def _fill(self, template: str) -> str:
        numbers = {"n": lambda: str(self.rng.randint(2, 60)), "n2": lambda: str(self.rng.randint(2, 60)),
                   "pct": lambda: str(self.rng.randint(11, 97)), "age": lambda: str(self.rng.randint(17, 52)),
                   "a": lambda: str(self.rng.randint(50, 79)), "b": lambda: str(self.rng.randint(80, 97))}
        return _SLOT.sub(lambda m: numbers[m[1]]() if m[1] in numbers else self.rng.choice(SLOTS[m[1]]), template)

    def _tco(self) -> str:
        alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
        return "https://t.co/" + "".join(self.rng.choice(alphabet) for _ in range(10))

    def _link(self, label: str, text: str) -> tuple[str, str]:
        slug = "-".join(re.findall(r"[a-z]+", text.lower())[:4]) or "post"
        return self._tco(), f"https://{self.rng.choice(LINK_SITES[label])}/{slug}-{self.rng.randint(10, 9999)}"

    def original(self, pool: str, label: str, lang: str) -> Post:
        """Compose one original post from a template of ``pool`` plus random decorations."""
        rng, text = self.rng, self._fill(self.rng.choice(POOLS[pool]))
        if lang == "en" and rng.random() < 0.15:
            opener = rng.choice(OPENERS[label])
            lower = text[1:2].islower() and not opener.endswith(".")
            text = f"{opener} {text[0].lower() + text[1:] if lower else text}"
        if lang == "en" and rng.random() < 0.09:
            text = f"{text}{'' if text[-1] in '.!?' else '.'} {rng.choice(FOLLOW_UPS[label])}"
        if rng.random() < 0.3:
            text += " " + rng.choice(EMOJI[label])
        tag_pool = "trap" if pool == "trap_en" and rng.random() < 0.2 else label
        if rng.random() < (0.4 if label == "ai" else 0.2):
            text += " " + " ".join(f"#{t}" for t in rng.sample(HASHTAGS[tag_pool], rng.randint(1, 2)))
        if rng.random() < 0.12:
            handle = rng.choice(self.users)["screen_name"]
            text = f"@{handle} {text}" if rng.random() < 0.5 else f"{text} cc @{handle}"
        post = Post(label, lang, text)
        if rng.random() < (0.35 if label == "ai" else 0.12):
            short, expanded = self._link(label, text)
            post.links[short] = expanded
            post.text += " " + short
        if rng.random() < 0.05:
            post.media = self._tco()
            post.text += " " + post.media
        return post

    def _snowflake(self, when: datetime) -> int:
        while True:
            ms = int(when.timestamp() * 1000)
            tweet_id = ((ms - TWITTER_EPOCH_MS) << 22) | self.rng.getrandbits(22)
            if tweet_id not in self.used_ids:
                self.used_ids.add(tweet_id)
                return tweet_id

    def _time(self, after: datetime | None = None) -> datetime:
        if after is None:
            return START + timedelta(seconds=self.rng.randrange(SPAN_S))
        return after + timedelta(seconds=self.rng.randint(30, 3 * 24 * 3600))

    def render(self, post: Post, user: dict[str, Any], when: datetime) -> dict[str, Any]:
        """The v1.1 object of an original post (truncated with ``extended_tweet`` past 140 chars)."""
        tweet_id = self._snowflake(when)
        full = _escape(post.text)
        source_name, source_url = self.rng.choice(SOURCES)
        obj: dict[str, Any] = {
            "created_at": _twitter_time(when), "id": tweet_id, "id_str": str(tweet_id), "text": full,
            "source": f'<a href="{source_url}" rel="nofollow">{source_name}</a>', "truncated": False,
            "user": user, "lang": post.lang, "entities": _entities(full, post.links, post.media, tweet_id),
            "retweet_count": 0, "favorite_count": 0,
        }
        if len(full) > 140:
            cut = full[:113].rsplit(" ", 1)[0]
            status_link = self._tco()
            obj["text"] = f"{cut}… {status_link}"
            obj["truncated"] = True
            obj["entities"] = _entities(obj["text"], {**post.links, status_link:
                                                      f"https://twitter.com/i/web/status/{tweet_id}"}, None, tweet_id)
            obj["extended_tweet"] = {"full_text": full, "display_text_range": [0, len(full)],
                                     "entities": _entities(full, post.links, post.media, tweet_id)}
        return obj

    def retweet(self, original: dict[str, Any], user: dict[str, Any]) -> dict[str, Any]:
        """A retweet of ``original``: ``RT @author: text`` cut at 140 characters, original embedded."""
        when = self._time(_parse_twitter_time(original["created_at"]))
        tweet_id = self._snowflake(when)
        full = original.get("extended_tweet", {}).get("full_text", original["text"])
        text = f"RT @{original['user']['screen_name']}: {full}"
        if len(text) > 140:
            text = text[:139] + "…"
        links = {u["url"]: u["expanded_url"] for u in original["entities"]["urls"]}
        source_name, source_url = self.rng.choice(SOURCES)
        return {
            "created_at": _twitter_time(when), "id": tweet_id, "id_str": str(tweet_id), "text": text,
            "source": f'<a href="{source_url}" rel="nofollow">{source_name}</a>', "truncated": False,
            "user": user, "lang": original["lang"], "entities": _entities(text, links, None, tweet_id),
            "retweeted_status": original, "retweet_count": 0, "favorite_count": 0,
        }

    def run(self) -> tuple[list[dict[str, Any]], dict[str, str]]:
        """Build every post; return them ordered by time, and the gold label of each id."""
        rng = self.rng
        originals: list[tuple[Post, dict[str, Any]]] = []
        for pool, label, lang, count in MIX:
            for _ in range(count):
                post = self.original(pool, label, lang)
                originals.append((post, self.render(post, rng.choice(self.users), self._time())))
        gold = {obj["id_str"]: post.label for post, obj in originals}
        tweets = [obj for _, obj in originals]
        for post, obj in rng.sample(originals, N_RETWEETS):
            retweet = self.retweet(obj, rng.choice(self.users))
            tweets.append(retweet)
            gold[retweet["id_str"]] = post.label
        linked = [(p, o) for p, o in originals if p.links and not p.media]
        for post, obj in rng.sample(linked, N_LINK_COPIES):  # same text, another link, another account
            copy = Post(post.label, post.lang, post.text, {})
            for short, expanded in post.links.items():
                new_short = self._tco()
                copy.links[new_short] = f"{expanded}?utm_source=bot&utm_id={rng.randint(100, 999)}"
                copy.text = copy.text.replace(short, new_short)
            rendered = self.render(copy, rng.choice(self.users), self._time(_parse_twitter_time(obj["created_at"])))
            tweets.append(rendered)
            gold[rendered["id_str"]] = post.label
        plain = [(p, o) for p, o in originals if not p.links and not p.media and len(p.text) < 120]
        for post, obj in rng.sample(plain, N_TEXT_COPIES):  # same words, other case or spacing
            variant = rng.choice([post.text.upper(), post.text.lower(), post.text.replace(" ", "  ", 2), post.text])
            copy = Post(post.label, post.lang, variant)
            rendered = self.render(copy, rng.choice(self.users), self._time(_parse_twitter_time(obj["created_at"])))
            tweets.append(rendered)
            gold[rendered["id_str"]] = post.label
        tweets.sort(key=lambda t: (_parse_twitter_time(t["created_at"]), t["id"]))
        return tweets, gold


def _escape(text: str) -> str:
    """Twitter v1.1 escapes ``&``, ``<`` and ``>`` in texts."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _twitter_time(when: datetime) -> str:
    """``Sun Apr 05 12:00:00 +0000 2020`` (locale-independent)."""
    return (f"{_DAYS[when.weekday()]} {_MONTHS[when.month - 1]} {when.day:02d} "
            f"{when:%H:%M:%S} +0000 {when.year}")


def _parse_twitter_time(value: str) -> datetime:
    return datetime.strptime(value, "%a %b %d %H:%M:%S %z %Y")


def _entities(text: str, links: dict[str, str], media: str | None, tweet_id: int) -> dict[str, Any]:
    """v1.1 ``entities`` for ``text``: hashtags, user_mentions, urls (and media) with indices."""
    def span(match_start: int, token: str) -> list[int]:
        return [match_start, match_start + len(token)]

    hashtags = [{"text": m[1], "indices": span(m.start(), m[0])} for m in _HASHTAG.finditer(text)]
    mentions = [{"screen_name": m[1], "name": m[1].split("_")[0].title(), "indices": span(m.start(), m[0])}
                for m in _MENTION.finditer(text)]
    urls, photos = [], []
    for short, expanded in links.items():
        at = text.find(short)
        if at >= 0:
            display = expanded.split("://", 1)[1]
            urls.append({"url": short, "expanded_url": expanded,
                         "display_url": display if len(display) <= 26 else display[:25] + "…",
                         "indices": span(at, short)})
    if media and (at := text.find(media)) >= 0:
        media_id = tweet_id + 1
        photos.append({"id": media_id, "id_str": str(media_id), "type": "photo", "url": media,
                       "media_url_https": f"https://pbs.twimg.example/media/{media_id}.jpg",
                       "expanded_url": f"https://twitter.com/i/photo/{media_id}",
                       "display_url": "pic.twitter.com/" + media.rsplit("/", 1)[1], "indices": span(at, media)})
    entities: dict[str, Any] = {"hashtags": hashtags, "urls": urls, "user_mentions": mentions, "symbols": []}
    if photos:
        entities["media"] = photos
    return entities


def write(tweets: list[dict[str, Any]], gold: dict[str, str], tweets_path: Path, gold_path: Path) -> None:
    """Write the JSONL.gz (byte-for-byte reproducible: no timestamp in the gzip header) and gold CSV."""
    lines = "".join(json.dumps(t, ensure_ascii=False, separators=(",", ":")) + "\n" for t in tweets)
    with tweets_path.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0,
                                                      compresslevel=9) as handle:
        handle.write(lines.encode("utf-8"))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["id", "label"])
    writer.writerows((t["id_str"], gold[t["id_str"]]) for t in tweets)
    gold_path.write_text(buffer.getvalue(), encoding="utf-8")


@dataclass(frozen=True, slots=True)
class DemoCorpus(StepResult):
    """The files written and what they hold: posts per gold label, retweets and truncated posts
    (the shapes ingestion must handle)."""

    posts: int
    ai: int
    not_ai: int
    retweets: int
    truncated: int
    tweets: Path
    gold: Path


def main(argv: Sequence[str] | None = None) -> int:
    """Regenerate the demo corpus files."""
    p = cli.parser("python -m datasets.demo.generate", "Generate the demo corpus (Twitter v1.1 JSONL.gz + gold CSV).")
    p.add_argument("--seed", type=int, default=2020, help="random seed (default 2020: the committed files)")
    p.add_argument("--out-dir", type=Path, help="write here instead of datasets/demo/")
    args = p.parse_args(argv)
    tweets_path = args.out_dir / TWEETS_PATH.name if args.out_dir else TWEETS_PATH
    gold_path = args.out_dir / GOLD_PATH.name if args.out_dir else GOLD_PATH
    tweets, gold = Generator(args.seed).run()
    tweets_path.parent.mkdir(parents=True, exist_ok=True)
    write(tweets, gold, tweets_path, gold_path)
    labels = list(gold.values())
    result = DemoCorpus(posts=len(tweets), ai=labels.count("ai"), not_ai=labels.count("not_ai"),
                        retweets=sum("retweeted_status" in t for t in tweets),
                        truncated=sum(t["truncated"] for t in tweets), tweets=tweets_path, gold=gold_path)
    cli.emit(result, args.json, lambda r: (f"{r.posts} posts ({r.ai} ai, {r.not_ai} not_ai; {r.retweets} "
                                           f"retweets, {r.truncated} truncated) -> {r.tweets}, {r.gold}"))
    return cli.EXIT_OK


if __name__ == "__main__":
    cli.run(main)
