"""MQTT 5.0 checks of `mqtt-sim broker` with Eclipse Paho's Python client (paho-mqtt 2.x).

Run by cli/tests/broker_tcp.rs as `python v5_checks.py PORT`. Each check prints `ok NAME`;
the first failure raises, prints the reason and exits non-zero. Every wait is bounded.
"""

import queue
import sys
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

PORT = int(sys.argv[1])
WAIT = 10.0


class Client:
    """A paho client whose callbacks feed queues, so a check can wait for each event."""

    def __init__(self, client_id, clean_start=True, expiry=None):
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                             protocol=mqtt.MQTTv5)
        self.connacks = queue.Queue()
        self.messages = queue.Queue()
        self.subacks = queue.Queue()
        self.pubacks = queue.Queue()
        self.c.on_connect = lambda c, u, flags, rc, props: self.connacks.put((flags, rc, props))
        self.c.on_message = lambda c, u, msg: self.messages.put(msg)
        self.c.on_subscribe = lambda c, u, mid, codes, props: self.subacks.put((codes, props))
        self.c.on_publish = lambda c, u, mid, rc, props: self.pubacks.put((mid, rc))
        props = Properties(PacketTypes.CONNECT)
        if expiry is not None:
            props.SessionExpiryInterval = expiry
        self.c.connect("127.0.0.1", PORT, keepalive=30, clean_start=clean_start,
                       properties=props)
        self.c.loop_start()
        self.flags, self.rc, self.props = self.connacks.get(timeout=WAIT)
        assert not self.rc.is_failure, f"CONNACK {self.rc}"

    def subscribe(self, topic, qos=1, sub_id=None, **options):
        props = Properties(PacketTypes.SUBSCRIBE)
        if sub_id is not None:
            props.SubscriptionIdentifier = sub_id
        else:
            props = None
        self.c.subscribe(topic, options=SubscribeOptions(qos=qos, **options), properties=props)
        codes, _ = self.subacks.get(timeout=WAIT)
        return [c.value for c in codes]

    def publish(self, topic, payload, qos=1, retain=False, props=None):
        info = self.c.publish(topic, payload, qos=qos, retain=retain, properties=props)
        if qos > 0:
            mid, rc = self.pubacks.get(timeout=WAIT)
            assert mid == info.mid
            return rc.value
        return None

    def message(self):
        return self.messages.get(timeout=WAIT)

    def nothing(self, within=0.5):
        try:
            msg = self.messages.get(timeout=within)
        except queue.Empty:
            return True
        raise AssertionError(f"unexpected message {msg.topic} {msg.payload!r}")

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


def check(name):
    def wrap(fn):
        fn()
        print(f"ok {name}", flush=True)
        return fn
    return wrap


@check("connack properties and an assigned client identifier")
def _():
    c = Client("")
    assert c.props.AssignedClientIdentifier, "an empty id gets one [MQTT-3.2.2-16]"
    assert c.props.ReceiveMaximum >= 1
    assert c.props.TopicAliasMaximum >= 1
    c.close()


@check("user properties, response topic and correlation data forwarded in order")
def _():
    sub = Client("paho-sub")
    assert sub.subscribe("paho/props", sub_id=12) == [1]
    pub = Client("paho-pub")
    props = Properties(PacketTypes.PUBLISH)
    props.UserProperty = [("z", "1"), ("a", "2"), ("z", "3")]
    props.ResponseTopic = "paho/reply"
    props.CorrelationData = b"\x00req-7"
    props.ContentType = "text/plain"
    props.MessageExpiryInterval = 60
    assert pub.publish("paho/props", b"hello", props=props) == 0
    msg = sub.message()
    p = msg.properties
    assert p.UserProperty == [("z", "1"), ("a", "2"), ("z", "3")], p.UserProperty
    assert p.ResponseTopic == "paho/reply" and p.CorrelationData == b"\x00req-7"
    assert p.ContentType == "text/plain"
    assert 0 < p.MessageExpiryInterval <= 60
    assert p.SubscriptionIdentifier == [12], p.SubscriptionIdentifier
    sub.close()
    pub.close()


@check("PUBACK 0x10 when nobody subscribes")
def _():
    pub = Client("paho-lonely")
    assert pub.publish("paho/nobody", b"x") == 0x10
    pub.close()


@check("No Local and retain handling 0, 1 and 2")
def _():
    c = Client("paho-opts")
    c.subscribe("paho/local", noLocal=True)
    c.publish("paho/local", b"mine", qos=1)
    c.nothing()
    c.publish("paho/kept", b"retained", qos=1, retain=True)
    for handling, first, again in [(0, 1, 1), (1, 1, 0), (2, 0, 0)]:
        s = Client(f"paho-rh{handling}")
        for expected in (first, again):
            s.subscribe("paho/kept", retainHandling=handling)
            for _ in range(expected):
                assert s.message().retain
            s.nothing(0.3)
        s.close()
    c.publish("paho/kept", b"", qos=1, retain=True)
    c.close()


@check("inbound topic alias")
def _():
    sub = Client("paho-alias-sub")
    sub.subscribe("paho/a/long/topic")
    pub = Client("paho-alias-pub")
    props = Properties(PacketTypes.PUBLISH)
    props.TopicAlias = 1
    pub.publish("paho/a/long/topic", b"first", props=props)
    pub.publish("", b"second", props=props)
    got = [sub.message(), sub.message()]
    assert [(m.topic, m.payload) for m in got] == [("paho/a/long/topic", b"first"),
                                                     ("paho/a/long/topic", b"second")]
    sub.close()
    pub.close()


@check("a session outlives its connection by its expiry interval")
def _():
    c = Client("paho-session", clean_start=True, expiry=60)
    c.subscribe("paho/session")
    c.close()
    pub = Client("paho-session-pub")
    pub.publish("paho/session", b"while away")
    c = Client("paho-session", clean_start=False, expiry=60)
    assert c.flags.session_present
    assert c.message().payload == b"while away"
    c.close()
    pub.close()


@check("shared subscription: each message to one member")
def _():
    members = [Client(f"paho-worker-{i}") for i in range(2)]
    for m in members:
        assert m.subscribe("$share/workers/paho/jobs") == [1]
    pub = Client("paho-boss")
    for i in range(6):
        pub.publish("paho/jobs", str(i).encode())
    got = sorted(int(m.message().payload) for m in members for _ in range(3))
    assert got == list(range(6)), got
    for m in members:
        m.nothing(0.3)
        m.close()
    pub.close()
