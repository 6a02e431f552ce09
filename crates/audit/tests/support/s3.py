"""Bucket set-up and inspection for the object-store sink tests, with boto3
against the moto server the test started.

    python s3.py ENDPOINT create BUCKET [lock]
    python s3.py ENDPOINT put BUCKET KEY TEXT
    python s3.py ENDPOINT list BUCKET       -> JSON list of objects, key order
    python s3.py ENDPOINT get BUCKET KEY    -> the object's bytes on stdout
"""

import json
import sys

import boto3


def main():
    endpoint, command, bucket = sys.argv[1], sys.argv[2], sys.argv[3]
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    if command == "create":
        lock = len(sys.argv) > 4 and sys.argv[4] == "lock"
        s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=lock)
    elif command == "put":
        s3.put_object(Bucket=bucket, Key=sys.argv[4], Body=sys.argv[5].encode())
    elif command == "list":
        objects = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for o in page.get("Contents", []):
                head = s3.head_object(Bucket=bucket, Key=o["Key"])
                until = head.get("ObjectLockRetainUntilDate")
                objects.append({
                    "key": o["Key"],
                    "size": o["Size"],
                    "last_modified": o["LastModified"].timestamp(),
                    "lock_mode": head.get("ObjectLockMode"),
                    "retain_until": until.timestamp() if until else None,
                })
        json.dump(objects, sys.stdout)
    elif command == "get":
        sys.stdout.buffer.write(s3.get_object(Bucket=bucket, Key=sys.argv[4])["Body"].read())
    else:
        sys.exit("unknown command " + command)


if __name__ == "__main__":
    main()
