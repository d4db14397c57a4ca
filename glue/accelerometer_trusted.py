"""Glue job: build accelerometer_trusted (and the tables it is built from) on Spark; see glue/README.md."""
from stedi.glue import main

if __name__ == "__main__":
    main("accelerometer_trusted")
