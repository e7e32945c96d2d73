"""Kraken asset tiers: the one list that ingestion, gap backfills and filters share."""

from __future__ import annotations

TIERS: dict[str, frozenset[str]] = {
    "TIER1": frozenset(
        "BTC ETH USDT USDC XRP SOL ADA DOGE BNB TRX TON AVAX SHIB DAI LTC BCH XMR".split()
    ),
    "TIER2": frozenset(
        "UNI AAVE LINK ALGO ATOM MATIC POL DOT XLM ETC FIL NEAR ICP APT ARB OP MKR LDO INJ "
        "GRT QNT HBAR VET EOS XTZ KSM SNX CRV COMP".split()
    ),
    "TIER3": frozenset(
        "BAT ENJ GALA MANA SAND AXS CHZ FLOW KAVA ZEC DASH 1INCH SUSHI YFI BAL OMG ZRX "
        "STORJ ANKR OCEAN REN LRC MINA IMX APE FET RNDR BLUR".split()
    ),
}
TIER_CHOICES = ("TIER1", "TIER2", "TIER3", "TIER4")

# Readable names for auto-created assets; anything else is named after its ticker.
NAMES: dict[str, str] = {
    "BTC": "Bitcoin", "ETH": "Ethereum", "USDT": "Tether", "USDC": "USD Coin", "XRP": "XRP",
    "SOL": "Solana", "ADA": "Cardano", "DOGE": "Dogecoin", "BNB": "BNB", "TRX": "TRON", "TON": "Toncoin",
    "AVAX": "Avalanche", "SHIB": "Shiba Inu", "DAI": "Dai", "LTC": "Litecoin", "BCH": "Bitcoin Cash",
    "XMR": "Monero", "UNI": "Uniswap", "AAVE": "Aave", "LINK": "Chainlink", "ALGO": "Algorand",
    "ATOM": "Cosmos", "MATIC": "Polygon", "POL": "Polygon", "DOT": "Polkadot", "XLM": "Stellar",
    "ETC": "Ethereum Classic", "FIL": "Filecoin", "NEAR": "NEAR Protocol", "BAT": "Basic Attention Token",
    "ENJ": "Enjin Coin", "GALA": "Gala", "MANA": "Decentraland", "SAND": "The Sandbox",
}


def tier_of(ticker: str) -> str:
    """TIER1..TIER3 from the lists above; every other asset is TIER4."""
    ticker = ticker.upper()
    for tier, members in TIERS.items():
        if ticker in members:
            return tier
    return "TIER4"


def readable_name(ticker: str) -> str:
    return NAMES.get(ticker.upper(), ticker.upper())
