"""One soak run: start the cluster, let simulated users chat while the fault schedule breaks
parts of it, heal, settle, read back the final state, and judge the history."""

from __future__ import annotations

import asyncio
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from chat_core.auth import issue_token
from chat_core.models import Message

from . import faults as fault_schedule
from .checker import Violation, check
from .cluster import CLEANUP_INTERVAL_S, PRESENCE_GRACE_S, PRESENCE_TTL_S, TABLE, Cluster
from .history import (
    ChangeAnswered,
    ChangeSeen,
    ChangeTried,
    Delivered,
    Event,
    FaultInjected,
    History,
    PresenceSeen,
    SendAnswered,
    SendTried,
    SessionOpened,
    StoredMessage,
    reactions_of,
)
from .users import Lost, Refused, Session, SimUser

SECRET = "soak-secret-0123456789abcdef0123456789abcdef"
SETTLE_DEADLINE_S = 600.0
FINAL_TRIES = 3
#: users connecting (and recovering) at once when the run starts: a login wave, not a stampede
ARRIVING_AT_ONCE = 20
#: what the DynamoDB proxy does during each storage fault
STORAGE_FAULTS: dict[str, dict[str, object]] = {
    "throttle": {"throttle": 0.5},
    "latency": {"latency_ms": [20, 400]},
    "lost": {"lost": 0.2},
}
#: after the last send: fan-out and the 200 ms unread flush have long finished
QUIET_S = 2.0


@dataclass(frozen=True, slots=True)
class Options:
    seconds: float
    seed: int
    users: int = 200
    nodes: int = 3
    think_s: float = 8.0
    history_path: Path | None = None
    dynamodb: str = "moto"
    """The DynamoDB endpoint: "moto" or "stub" (soak/cluster.py)."""


@dataclass(slots=True)
class Outcome:
    history: History
    violations: list[Violation]
    faults: list[str] = field(default_factory=list)
    proxy_counts: dict[str, Any] = field(default_factory=dict)
    wall_s: float = 0.0


class SoakRun:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.history = History(seed=options.seed)
        self.cluster = Cluster(options.nodes, options.seed, SECRET, options.dynamodb)
        self.started = time.monotonic()
        self.stopping = False
        self.users: list[SimUser] = []
        self._tokens: dict[str, str] = {}

    # --- what users ask of the run --------------------------------------------------------------
    def now(self) -> float:
        return time.monotonic() - self.started

    def say(self, text: str) -> None:
        """Progress on stderr (the report goes to stdout)."""
        print(f"[{self.now():7.1f}s] {text}", file=sys.stderr, flush=True)

    def record(self, event: Event) -> None:
        self.history.add(event)

    def token(self, user: str) -> str:
        if user not in self._tokens:
            self._tokens[user] = issue_token(SECRET, user, ttl_s=24 * 3600)
        return self._tokens[user]

    def pick_node(self, rng: random.Random) -> tuple[int, str] | None:
        up = self.cluster.up_nodes()
        if not up:
            return None
        node = rng.choice(up)
        return node, self.cluster.url(node)

    # --- phases ---------------------------------------------------------------------------------
    async def create_chats(self) -> None:
        """Direct chats along a ring and a few random pairs, and groups of 3 to 8."""
        draw = random.Random(f"chats-{self.options.seed}")
        names = [f"u{i:04d}" for i in range(self.options.users)]
        chats: dict[str, list[str]] = {name: [] for name in names}
        pairs = {tuple(sorted((names[i], names[(i + 1) % len(names)]))) for i in range(len(names))}
        pairs |= {tuple(sorted(draw.sample(names, 2))) for _ in range(len(names) // 2)}
        groups = [draw.sample(names, draw.randint(3, 8)) for _ in range(max(2, len(names) // 15))]
        async with httpx.AsyncClient(base_url=self.cluster.url(0), timeout=30) as http:
            for first, second in sorted(pairs):
                chat = await self._create(http, first, {"type": "direct", "recipientId": second})
                chats[first].append(chat)
                chats[second].append(chat)
            for number, members in enumerate(groups):
                body = {"type": "group", "title": f"group {number}", "members": members}
                chat = await self._create(http, members[0], body)
                for member in members:
                    chats[member].append(chat)
        self.users = [
            SimUser(name, chats[name], self, self.options.seed, self.options.think_s) for name in names if chats[name]
        ]

    async def _create(self, http: httpx.AsyncClient, creator: str, body: dict[str, Any]) -> str:
        answer = await http.post("/v1/chats", json=body, headers={"authorization": f"Bearer {self.token(creator)}"})
        answer.raise_for_status()
        return str(answer.json()["id"])

    async def inject(self, fault: fault_schedule.Fault) -> None:
        self.say(f"fault: {fault.describe()}")
        self.record(FaultInjected(self.now(), fault.kind, str(fault.node), fault.describe()))
        cluster, proxy = self.cluster, self.cluster.proxy
        assert proxy is not None
        if fault.kind == "kill":
            await asyncio.to_thread(cluster.kill_node, fault.node)
            await asyncio.sleep(fault.seconds)
            await asyncio.to_thread(cluster.start_node, fault.node)
        elif fault.kind == "drain":
            await asyncio.to_thread(cluster.drain_node, fault.node)
            await asyncio.sleep(fault.seconds)
            await asyncio.to_thread(cluster.start_node, fault.node)
        elif fault.kind == "redis":
            await asyncio.to_thread(cluster.stop_redis)
            await asyncio.sleep(fault.seconds)
            await asyncio.to_thread(cluster.start_redis)
        else:
            settings = STORAGE_FAULTS[fault.kind]
            await asyncio.to_thread(proxy.set_faults, **settings)
            await asyncio.sleep(fault.seconds)
            await asyncio.to_thread(proxy.set_faults)
        self.record(FaultInjected(self.now(), "healed", str(fault.node), fault.kind))
        self.say(f"healed: {fault.kind}")

    async def run_faults(self, schedule: list[fault_schedule.Fault], run_start: float) -> None:
        """The schedule's times count from run_start (when every user is connected)."""
        for fault in schedule:
            wait = run_start + fault.at - self.now()
            if wait > 0:
                await asyncio.sleep(wait)
            await self.inject(fault)

    async def heal(self) -> None:
        assert self.cluster.proxy is not None
        await asyncio.to_thread(self.cluster.proxy.set_faults)
        if not self.cluster.redis.ping():
            await asyncio.to_thread(self.cluster.start_redis)
        for node in sorted(self.cluster.down):
            await asyncio.to_thread(self.cluster.start_node, node)

    async def on_settled(self, user: SimUser, ask: Callable[[Session], Awaitable[None]]) -> None:
        """Ask something of the user's session; a session lost meanwhile is settled again first."""
        for _ in range(FINAL_TRIES):
            session = user.session
            try:
                if session is None or session.closed.is_set():
                    await user.settle(self.now() + SETTLE_DEADLINE_S)
                    session = user.session
                    assert session is not None
                await ask(session)
                return
            except (Lost, Refused) as error:
                await user.drop(f"request failed after the run: {error!r}")
        raise TimeoutError(f"{user.name}: no answer after the run")

    async def read_unread_and_presence(self) -> None:
        final = self.history.final

        async def unread_of(user: SimUser, session: Session) -> None:
            await session.request("ping", {})  # a barrier: everything sent to it before has arrived
            for chat in user.chats:
                answer = await session.request("get_chat_info", {"chatId": chat})
                final.server_unread[(user.name, chat)] = int(answer["chat"]["unreadCount"])
            final.final_sessions[user.name] = session.id

        await asyncio.gather(*(self.on_settled(user, partial(unread_of, user)) for user in self.users))
        # a third leave; after the grace period and the TTL, presence must show exactly who stayed
        leaving = random.Random(f"leave-{self.options.seed}").sample(self.users, len(self.users) // 3)
        await asyncio.gather(*(user.drop("leaving before the presence check") for user in leaving))
        await asyncio.sleep(PRESENCE_GRACE_S + PRESENCE_TTL_S + 2 * CLEANUP_INTERVAL_S + 1.0)
        staying = [user for user in self.users if user not in leaving]
        answers: dict[str, tuple[str, list[dict[str, Any]]]] = {}

        async def presence_of(user: SimUser, session: Session) -> None:
            answer = await session.request("get_active_users", {})
            answers[user.name] = (session.id, answer["users"])

        await asyncio.gather(*(self.on_settled(user, partial(presence_of, user)) for user in staying))
        # judged against who is connected once every answer is in (a user whose session was lost
        # and came back in between is online again by then)
        final.expected_online = {
            user.name for user in staying if user.session is not None and not user.session.closed.is_set()
        }
        for observer, (session_id, entries) in sorted(answers.items()):
            for entry in entries:
                self.record(PresenceSeen(self.now(), observer, session_id, entry["userId"], bool(entry["online"])))

    async def read_store(self) -> None:
        """The final state as the table holds it (read directly, not through the fault proxy)."""
        os.environ.update(self.cluster.store_env())
        from chat_core.stores.dynamodb import DynamoStore

        store = await DynamoStore.open(TABLE)
        final = self.history.final
        try:
            chat_ids = {chat for user in self.users for chat in user.chats}
            for chat_id in sorted(chat_ids):
                chat = await store.get_chat(chat_id)
                assert chat is not None, chat_id
                final.members[chat_id] = list(chat.members)
                for member in chat.members:
                    final.read_marks[(member, chat_id)] = int(chat.read_seqs.get(member, 0))
                messages: list[StoredMessage] = []
                after = 0
                while True:
                    page = await store.list_messages(chat_id, before_seq=None, after_seq=after, limit=100)
                    messages += [stored_message(m) for m in page.messages]
                    if not page.messages or not page.has_more:
                        break
                    after = page.messages[-1].seq
                final.stored[chat_id] = messages
        finally:
            await store.close()

    async def execute(self) -> Outcome:
        options = self.options
        self.say(f"starting {options.nodes} nodes, DynamoDB ({options.dynamodb}), the fault proxy and redis")
        await asyncio.to_thread(self.cluster.start)
        schedule = fault_schedule.schedule(options.seed, options.seconds, options.nodes)
        try:
            await self.create_chats()
            self.started = time.monotonic()
            self.say(f"{len(self.users)} users connecting")
            arriving = asyncio.Semaphore(ARRIVING_AT_ONCE)

            async def arrive(user: SimUser) -> None:
                async with arriving:
                    await user.connect()

            await asyncio.gather(*(arrive(user) for user in self.users))
            run_start = self.now()
            self.say(f"chatting for {options.seconds:.0f} s under faults")
            living = [asyncio.create_task(user.live()) for user in self.users]
            faults = asyncio.create_task(self.run_faults(schedule, run_start))
            # at least the run's seconds, and until the schedule has played out (a node slow to
            # come back delays the faults after it)
            await asyncio.sleep(options.seconds)
            await faults
            self.stopping = True
            self.say("stopping users")
            await asyncio.gather(*living)
            self.say("healing and settling")
            await self.heal()
            deadline = self.now() + SETTLE_DEADLINE_S
            await asyncio.gather(*(user.settle(deadline) for user in self.users))
            await asyncio.sleep(QUIET_S)
            self.say("reading unread counts and presence")
            await self.read_unread_and_presence()
            self.say("reading the store")
            await self.read_store()
            proxy_counts = await asyncio.to_thread(self.cluster.proxy.counts) if self.cluster.proxy else {}
        except (Lost, Refused, TimeoutError) as error:
            raise RuntimeError(f"the run could not finish: {error!r}\n{self.cluster.node_logs()}") from error
        finally:
            await asyncio.gather(*(user.drop("end of run") for user in self.users))
            if options.history_path is not None:  # also when the run could not finish
                self.cluster.keep_logs(options.history_path.parent)
                self.history.dump(options.history_path)
            await asyncio.to_thread(self.cluster.close)
        return Outcome(self.history, check(self.history), [f.describe() for f in schedule], proxy_counts, self.now())


def stored_message(message: Message) -> StoredMessage:
    """A message read from the store as the final state holds it, with its changes."""
    return StoredMessage(
        message.chat_id,
        message.id,
        message.seq,
        message.sender_id,
        message.client_message_id,
        message.change_seq,
        message.content,
        message.deleted,
        reactions_of((r.emoji, r.user_ids) for r in message.reactions),
    )


def summary(outcome: Outcome) -> list[str]:
    history = outcome.history
    kinds = Counter(type(e).__name__ for e in history.events)
    faults = Counter(e.kind for e in history.events if isinstance(e, FaultInjected) and e.kind != "healed")
    users = len({e.user for e in history.events if isinstance(e, SessionOpened)})
    return [
        f"seed {history.seed}, {outcome.wall_s:.0f} s, {users} users, {len(history.final.members)} chats",
        _sends_summary(history),
        f"deliveries live {_deliveries(history, 'live')}, by recovery {_deliveries(history, 'recovery')}; "
        f"sessions {kinds[SessionOpened.__name__]}",
        _changes_summary(history),
        f"faults injected {sum(faults.values())}: {dict(faults)}",
        f"DynamoDB proxy: {outcome.proxy_counts}",
    ]


def _deliveries(history: History, via: str) -> int:
    return sum(1 for e in history.events if isinstance(e, Delivered) and e.via == via)


def _sends_summary(history: History) -> str:
    tried = sum(1 for e in history.events if isinstance(e, SendTried))
    acked = sum(1 for e in history.events if isinstance(e, SendAnswered) and e.ok)
    refused = Counter(e.code for e in history.events if isinstance(e, SendAnswered) and not e.ok)
    stored = sum(len(ms) for ms in history.final.stored.values())
    return f"sends tried {tried}, acknowledged {acked}, stored {stored}, refused {dict(refused)}"


def _changes_summary(history: History) -> str:
    """Changes tried (of which meant to be refused), acknowledged, refused by code, lost; the
    states sessions were given by message_updated and by recovery; messages changed at the end."""
    tries = [e for e in history.events if isinstance(e, ChangeTried)]
    answers = [e for e in history.events if isinstance(e, ChangeAnswered)]
    kinds = Counter(e.kind for e in tries)
    refused = Counter(e.code for e in answers if not e.ok)
    lost = len(tries) - len(answers)
    seen = Counter(e.source for e in history.events if isinstance(e, ChangeSeen))
    changed = sum(1 for ms in history.final.stored.values() for m in ms if m.changed_at > m.seq)
    return (
        f"changes tried {len(tries)} {dict(kinds)} ({sum(1 for e in tries if e.expect)} meant to be refused), "
        f"acknowledged {sum(1 for e in answers if e.ok)}, refused {dict(refused)}, lost {lost}; "
        f"states given {dict(seen)}; messages changed in the store {changed}"
    )
