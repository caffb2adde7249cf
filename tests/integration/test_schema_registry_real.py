"""An independent decoder of one record in the Confluent wire format.

Reads the record's bytes from a file and decodes them with Confluent's Python
client's Avro deserializer, which takes the schema id from the 5-byte header
and fetches the writer's schema from the schema registry (GET
/schemas/ids/<id>); nothing of manymodels is used. Prints one JSON line:
{"schema_id", "value"}.

Used by tests/integration/test_schema_registry_real.c.

usage: test_schema_registry_real.py REGISTRY_URL TOPIC RECORD_FILE
"""
import base64
import datetime
import json
import sys

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
    registry_url, topic, path = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(path, "rb") as f:
        raw = f.read()
    deserialize = AvroDeserializer(SchemaRegistryClient({"url": registry_url}))
    value = deserialize(raw, SerializationContext(topic, MessageField.VALUE))
    print(json.dumps({"schema_id": int.from_bytes(raw[1:5], "big"), "value": value},
                     default=plain, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
