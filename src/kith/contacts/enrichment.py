"""Enrichment providers: where the ``enrich`` verb gets facts about a company domain and a person.

A provider is any class with ``lookup(domain) -> CompanyFacts | None`` and
``person(email) -> PersonFacts | None`` (plain or ``async`` methods; plain ones run in a worker
thread so a blocking HTTP client does not stall the server). Choose one with
``KITH_ENRICHMENT_PROVIDER="package.module:Class"`` (instantiated once, without arguments); the
default ``DomainOnlyProvider`` calls nothing and derives what the domain itself tells.

Facts only ever fill empty fields; a provider's value that fails validation is dropped, not stored.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
from dataclasses import asdict, dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any, Protocol

from kith.companies.schemas import normalise_domain

# Addresses at these domains say nothing about the person's employer. ``*`` stands for any public
# suffix (yahoo.co.uk, gmx.de).
FREE_MAIL: frozenset[str] = frozenset({
    "gmail.com", "googlemail.com", "yahoo.*", "ymail.com", "rocketmail.com", "hotmail.*", "outlook.*",
    "live.*", "msn.com", "icloud.com", "me.com", "mac.com", "aol.*", "aim.com", "proton.me", "protonmail.*",
    "pm.me", "gmx.*", "web.de", "t-online.de", "freenet.de", "mail.ru", "bk.ru", "inbox.ru", "list.ru",
    "yandex.*", "ya.ru", "qq.com", "163.com", "126.com", "sina.com", "foxmail.com", "naver.com", "daum.net",
    "hanmail.net", "zoho.com", "zohomail.com", "tutanota.com", "tuta.io", "fastmail.com", "fastmail.fm",
    "hey.com", "mail.com", "email.com", "usa.com", "laposte.net", "orange.fr", "wanadoo.fr", "free.fr",
    "sfr.fr", "libero.it", "virgilio.it", "seznam.cz", "wp.pl", "o2.pl", "interia.pl", "rediffmail.com",
    "comcast.net", "verizon.net", "att.net", "sbcglobal.net", "btinternet.com", "sky.com", "bigpond.com",
    "shaw.ca", "rogers.com", "rambler.ru", "ukr.net", "hushmail.com", "duck.com", "mailinator.com",
})

# Second-level labels under a country code that are not the organisation's name (acme.co.uk).
_GENERIC_SLD = frozenset({"co", "com", "org", "net", "ac", "gov", "edu", "ne", "or", "gv", "gob", "nic"})


def domain_of(email: str) -> str:
    return email.rsplit("@", 1)[-1].strip().lower().rstrip(".")


def is_free_mail(domain: str) -> bool:
    labels = domain.lower().split(".")
    for pattern in FREE_MAIL:
        if pattern.endswith(".*"):
            if labels[0] == pattern[:-2] and len(labels) >= 2:
                return True
        elif domain == pattern:
            return True
    return False


def company_domain(email: str) -> tuple[str, str | None]:
    """The email's domain as a company domain (``www.`` dropped), and why no company can be derived
    from it (``free-mail``, ``invalid-domain``) or None. An address may end in what no company's
    domain could be (over 253 characters, odd characters): that gives no company rather than a row
    the database refuses."""
    raw = domain_of(email)
    try:
        domain = normalise_domain(raw)
    except ValueError:
        return raw, "invalid-domain"
    return domain, "free-mail" if is_free_mail(domain) else None


def name_from_domain(domain: str) -> str:
    """``acme-labs.co.uk`` → ``Acme Labs``: the registrable label, words capitalised."""
    labels = domain.lower().split(".")
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _GENERIC_SLD:
        label = labels[-3]
    else:
        label = labels[-2] if len(labels) >= 2 else labels[0]
    return " ".join(w.capitalize() for w in label.replace("_", "-").split("-") if w) or domain


@dataclass(frozen=True)
class CompanyFacts:
    name: str | None = None
    industry: str | None = None
    description: str | None = None
    website: str | None = None
    linkedin_url: str | None = None
    employee_count: int | None = None
    annual_revenue: Decimal | None = None
    country: str | None = None
    city: str | None = None
    phone: str | None = None
    logo_url: str | None = None


@dataclass(frozen=True)
class PersonFacts:
    first_name: str | None = None
    last_name: str | None = None
    title: str | None = None
    department: str | None = None
    role: str | None = None
    avatar: str | None = None
    linkedin_url: str | None = None
    twitter_handle: str | None = None
    phone: str | None = None
    timezone: str | None = None
    language: str | None = None


class EnrichmentProvider(Protocol):
    async def lookup(self, domain: str) -> CompanyFacts | None: ...

    async def person(self, email: str) -> PersonFacts | None: ...


class DomainOnlyProvider:
    """No outside calls: the company is named after its domain and its website is the domain."""

    async def lookup(self, domain: str) -> CompanyFacts | None:
        return CompanyFacts(name=name_from_domain(domain), website=f"https://{domain}")

    async def person(self, email: str) -> PersonFacts | None:
        return None


async def ask(method: Any, arg: str) -> Any:
    """Call a provider method, plain or async; a plain one runs in a worker thread."""
    if inspect.iscoroutinefunction(method):
        return await method(arg)
    result = await asyncio.to_thread(method, arg)
    return await result if inspect.isawaitable(result) else result


def facts_dict(facts: CompanyFacts | PersonFacts | None) -> dict[str, Any]:
    return {} if facts is None else {k: v for k, v in asdict(facts).items() if v is not None}


@lru_cache(maxsize=8)
def load_provider(spec: str) -> EnrichmentProvider:
    """The provider named by ``spec`` (``"package.module:Class"``), or the default when empty.
    Anything wrong with ``spec`` is a ``ValueError`` naming the setting, raised when the app starts."""
    if not spec:
        return DomainOnlyProvider()
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"KITH_ENRICHMENT_PROVIDER must look like 'package.module:Class', not {spec!r}")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"KITH_ENRICHMENT_PROVIDER {spec!r} cannot be loaded: {exc}") from exc
    try:
        provider = cls() if isinstance(cls, type) else cls
    except Exception as exc:
        raise ValueError(f"KITH_ENRICHMENT_PROVIDER {spec!r} cannot be instantiated without arguments: {exc}"
                         ) from exc
    missing = [m for m in ("lookup", "person") if not callable(getattr(provider, m, None))]
    if missing:
        raise ValueError(f"KITH_ENRICHMENT_PROVIDER {spec!r} is no enrichment provider: it lacks {missing}")
    checked: EnrichmentProvider = provider
    return checked
