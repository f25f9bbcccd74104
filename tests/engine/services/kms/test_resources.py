"""AWS::KMS::Alias: made, pointed at another key in place, replaced under a new name, deleted."""

from __future__ import annotations

from jobkit.engine.services.cloudformation.deployer import StackDeployer


def _template(alias: str, key: str) -> dict:
    return {"Resources": {
        "First": {"Type": "AWS::KMS::Key", "Properties": {"Description": "first"}},
        "Second": {"Type": "AWS::KMS::Key", "Properties": {"Description": "second"}},
        "Alias": {"Type": "AWS::KMS::Alias", "Properties": {"AliasName": alias, "TargetKeyId": {"Ref": key}}}}}


def test_an_alias_follows_its_template(moto_endpoint) -> None:
    deployer = StackDeployer(moto_endpoint, account="000000000000", region="us-east-1", stack_name="Aliases")
    deployer.apply(_template("alias/resources-first", "First"))
    kms = moto_endpoint("kms")

    def aliases() -> dict[str, str]:
        return {a["AliasName"]: a.get("TargetKeyId", "") for a in kms.list_aliases()["Aliases"]
                if a["AliasName"].startswith("alias/resources-")}

    keys = {k: deployer.registry.resources[k].physical_id for k in ("First", "Second")}
    assert aliases() == {"alias/resources-first": keys["First"]}
    assert deployer.apply(_template("alias/resources-first", "Second")).updated == ["Alias"]
    assert aliases() == {"alias/resources-first": keys["Second"]}
    assert deployer.apply(_template("alias/resources-second", "Second")).replaced == ["Alias"]
    assert aliases() == {"alias/resources-second": keys["Second"]}
    deployer.delete()
    assert aliases() == {}
