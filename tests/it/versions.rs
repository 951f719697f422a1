//! Issue 14, every published version and alias: each published version archived once under
//! `<function>@<version>`, deleted ones marked gone and still restorable, alias moves recorded
//! with their times, and `F@<version>` / `F@<alias>` accepted by `history`, `show`, `restore`.

use fnvault::sim::SimFunction;

use crate::common::*;

const F: &str = "tc/ap-guangzhou/default/order-api";

fn order_api() -> SimFunction {
    SimFunction::scf("ap-guangzhou", "default", "order-api", None)
}

/// One SCF function with `versions` and `aliases` on, deployed at v1.
fn setup(env: &Env) -> SimFunction {
    let f = order_api();
    env.sim.deploy(&f, package("order-api v1", 30_000));
    env.write_config(
        "[[functions]]\naccount = \"tc\"\nregion = \"ap-guangzhou\"\nname = \"order-api\"\nversions = true\naliases = true\n",
    );
    f
}

fn at_version(v: &str) -> SimFunction {
    SimFunction::scf("ap-guangzhou", "default", "order-api", Some(v))
}

#[tokio::test(flavor = "multi_thread")]
async fn each_published_version_is_downloaded_once_across_ten_sweeps() {
    let env = Env::new().await;
    let f = setup(&env);
    // Small pages: the listing must follow them.
    env.sim.set_page_limit(1);
    for sweep in 0..10 {
        match sweep {
            1 => {
                env.sim.publish_version(&f).unwrap();
            }
            3 => {
                env.sim.deploy(&f, package("order-api v2", 31_000));
                env.sim.publish_version(&f).unwrap();
            }
            6 => {
                env.sim.deploy(&f, package("order-api v3", 32_000));
                env.sim.publish_version(&f).unwrap();
            }
            _ => {}
        }
        env.sync_ok().await;
    }
    for v in ["1", "2", "3"] {
        assert_eq!(env.sim.downloads_of(&at_version(v)), 1, "version {v}");
        let h = env
            .json(&["history", &format!("{F}@{v}"), "--json"], 0)
            .await;
        assert_eq!(h["versions"].as_array().unwrap().len(), 1, "{h}");
    }
}
