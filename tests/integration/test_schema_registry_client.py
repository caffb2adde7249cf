"""An independent reader of the mm.* topics, as Kafka tools read them.

Consumes a topic from the beginning with Confluent's Python client and
decodes each value with its Avro deserializer, which takes the schema id from
the 5-byte Confluent header and fetches the writer's schema from the schema
registry (GET /schemas/ids/<id>); nothing of manymodels is used. Prints one
JSON line per record: {"topic", "key", "schema_id", "value"}.

Used by tests/integration/test_schema_registry_client.c.

usage: test_schema_registry_client.py BOOTSTRAP REGISTRY_URL TOPIC COUNT
(basic auth from MM_SCHEMA_REGISTRY_USER / MM_SCHEMA_REGISTRY_PASSWORD when set)
"""
import base64
import datetime
import json
import os
import sys
import time

from confluent_kafka import Consumer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext


def plain(value):
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()
    if isinstance(value, datetime.datetime):
        return int(value.timestamp() * 1000)
    raise TypeError(type(value).__name__)


def main():
    bootstrap, registry_url, topic, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    conf = {"url": registry_url}
    user = os.environ.get("MM_SCHEMA_REGISTRY_USER")
    if user:
        conf["basic.auth.user.info"] = user + ":" + os.environ.get("MM_SCHEMA_REGISTRY_PASSWORD", "")
    deserialize = AvroDeserializer(SchemaRegistryClient(conf))
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": "independent-avro-reader",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    })
    consumer.subscribe([topic])
    seen = 0
    deadline = time.monotonic() + 60
    try:
        while seen < count and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            if msg.error():
                print("kafka error: %s" % msg.error(), file=sys.stderr)
                continue
            raw = msg.value()
            value = deserialize(raw, SerializationContext(msg.topic(), MessageField.VALUE))
            print(json.dumps({
                "topic": msg.topic(),
                "key": msg.key().decode() if msg.key() else None,
                "schema_id": int.from_bytes(raw[1:5], "big"),
                "value": value,
            }, default=plain, sort_keys=True), flush=True)
            seen += 1
    finally:
        consumer.close()
    if seen < count:
        print("read %d of %d records from %s" % (seen, count, topic), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
