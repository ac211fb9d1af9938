"""The ``handgrad`` command: Lightning's CLI for the classifier (fit, validate, test, predict).

To run:  handgrad fit --config experiments/configs/digits.yaml
"""
import sys

from lightning.pytorch.cli import LightningCLI

from handgrad.lightning import Classifier


class HandgradCLI(LightningCLI):
    def add_arguments_to_parser(self, parser):
        parser.link_arguments("data.num_features", "model.in_features", apply_on="instantiate")
        parser.link_arguments("data.num_classes", "model.num_classes", apply_on="instantiate")

    def instantiate_classes(self):
        # a bad value that only the classes can judge is a config error: one line, exit 2
        try:
            super().instantiate_classes()
        except (ValueError, TypeError, IndexError, FileNotFoundError) as error:
            print(f"handgrad: error: {error}", file=sys.stderr)
            sys.exit(2)


def main(args=None):
    HandgradCLI(
        Classifier,
        subclass_mode_data=True,
        save_config_kwargs={"overwrite": True},
        args=args,
    )


if __name__ == "__main__":
    main()
