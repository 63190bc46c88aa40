//! The same group operations on nipee-mls, OpenMLS 0.9 (`openmls_rust_crypto`) and mls-rs
//! 0.57 (`mls-rs-crypto-rustcrypto`), with identical settings: suite 1, the ratchet tree in
//! the Welcome's GroupInfo, one Welcome for all new members, handshake messages as
//! PrivateMessage, no padding, commits with a path.
//!
//! Group sizes come from `NIPEE_BENCH_SIZES` (comma-separated, default `16,128,1024`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use nipee_keypackage::Encode as _;
use openmls::prelude::OpenMlsProvider as _;

const SUITE_OM: openmls::prelude::Ciphersuite =
    openmls::prelude::Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519;

fn sizes() -> Vec<usize> {
    std::env::var("NIPEE_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![16, 128, 1024])
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

// ----- nipee-mls -----

mod ours {
    use nipee_keypackage::{KeyPackage, KeyPackageBundle, KeyPackageOptions};
    use nipee_mls::{
        CommitOptions, CommitOutput, Group, GroupConfig, GroupId, HandshakeFormat, HpkePrivateKey,
        JoinKeys, Proposal, RustCryptoSuite1, SignatureSecretKey,
    };

    /// A commit with an UpdatePath and no proposal, keeping our signature key: what the
    /// baselines' self-updates do (`Group::self_update` also rotates the signature key).
    pub fn path_update(g: &mut Group) -> CommitOutput {
        g.commit(CommitOptions {
            force_path: true,
            ..CommitOptions::default()
        })
        .unwrap()
    }

    pub fn config() -> GroupConfig {
        let mut c = GroupConfig::new(super::now());
        c.handshake_format = HandshakeFormat::Private;
        c.ratchet_tree_extension = true;
        c.always_path = true;
        c
    }

    pub fn bundle(i: usize) -> KeyPackageBundle {
        let mut rng = rand::rng();
        KeyPackageBundle::generate(
            format!("member {i}").as_bytes(),
            &KeyPackageOptions::new(super::now()),
            &mut rng,
        )
        .unwrap()
    }

    /// A KeyPackage with its private keys, cloneable.
    pub struct Keys {
        pub kp: KeyPackage,
        init: Vec<u8>,
        enc: Vec<u8>,
        sig: Vec<u8>,
    }

    impl Keys {
        pub fn new(i: usize) -> Self {
            let b = bundle(i);
            Keys {
                kp: b.key_package().clone(),
                init: b.init_secret().expose_secret().to_vec(),
                enc: b.encryption_secret().expose_secret().to_vec(),
                sig: b.signature_secret().expose_secret().to_vec(),
            }
        }

        pub fn join_keys(&self) -> JoinKeys {
            JoinKeys {
                key_package: self.kp.clone(),
                init_secret: HpkePrivateKey::from_slice(&self.init),
                encryption_secret: HpkePrivateKey::from_slice(&self.enc),
                signature_secret: SignatureSecretKey::from_slice(&self.sig).unwrap(),
            }
        }
    }

    pub fn create() -> Group {
        Group::create(
            RustCryptoSuite1::new(),
            config(),
            GroupId::new(b"bench".to_vec()),
            bundle(0),
            vec![],
        )
        .unwrap()
    }

    /// The creator adds `kps` in one commit; returns the commit's Welcome.
    pub fn add_all(g: &mut Group, kps: &[KeyPackage]) -> Vec<u8> {
        let out = g
            .commit(CommitOptions {
                proposals: kps
                    .iter()
                    .map(|k| Proposal::Add(Box::new(k.clone())))
                    .collect(),
                force_path: true,
                ..CommitOptions::default()
            })
            .unwrap();
        g.merge_pending_commit().unwrap();
        out.welcome.unwrap()
    }

    pub fn join(welcome: &[u8], keys: &Keys) -> Group {
        Group::join(
            RustCryptoSuite1::new(),
            config(),
            welcome,
            keys.join_keys(),
            None,
            vec![],
        )
        .unwrap()
    }

    pub fn snapshot(g: &Group) -> Vec<u8> {
        g.to_bytes().unwrap().to_vec()
    }

    pub fn restore(b: &[u8]) -> Group {
        Group::from_bytes(RustCryptoSuite1::new(), b).unwrap()
    }
}

// ----- OpenMLS -----

mod om {
    use openmls::prelude::tls_codec::Deserialize as _;
    use openmls::prelude::*;
    use openmls_basic_credential::SignatureKeyPair;
    use openmls_rust_crypto::OpenMlsRustCrypto;

    use super::SUITE_OM;

    pub struct Member {
        pub provider: OpenMlsRustCrypto,
        pub signer: SignatureKeyPair,
        pub credential: CredentialWithKey,
    }

    impl Member {
        pub fn new(i: usize) -> Self {
            let provider = OpenMlsRustCrypto::default();
            let signer = SignatureKeyPair::new(SUITE_OM.signature_algorithm()).unwrap();
            signer.store(provider.storage()).unwrap();
            let credential = CredentialWithKey {
                credential: BasicCredential::new(format!("member {i}").into_bytes()).into(),
                signature_key: signer.public().into(),
            };
            Member {
                provider,
                signer,
                credential,
            }
        }

        pub fn key_package(&self) -> KeyPackage {
            // Last resort, so the benchmark can join with it repeatedly; the extension must
            // then be listed in the capabilities.
            let capabilities = Capabilities::new(
                None,
                Some(&[SUITE_OM]),
                Some(&[ExtensionType::LastResort]),
                None,
                Some(&[CredentialType::Basic]),
            );
            KeyPackage::builder()
                .leaf_node_capabilities(capabilities)
                .mark_as_last_resort()
                .build(
                    SUITE_OM,
                    &self.provider,
                    &self.signer,
                    self.credential.clone(),
                )
                .unwrap()
                .key_package()
                .clone()
        }

        pub fn create(&self) -> MlsGroup {
            let cfg = MlsGroupCreateConfig::builder()
                .ciphersuite(SUITE_OM)
                .wire_format_policy(PURE_CIPHERTEXT_WIRE_FORMAT_POLICY)
                .use_ratchet_tree_extension(true)
                .build();
            MlsGroup::new(&self.provider, &self.signer, &cfg, self.credential.clone()).unwrap()
        }

        pub fn join(&self, welcome: &[u8]) -> MlsGroup {
            let msg = MlsMessageIn::tls_deserialize_exact(welcome).unwrap();
            let MlsMessageBodyIn::Welcome(w) = msg.extract() else {
                panic!("not a welcome")
            };
            let cfg = MlsGroupJoinConfig::builder()
                .wire_format_policy(PURE_CIPHERTEXT_WIRE_FORMAT_POLICY)
                .use_ratchet_tree_extension(true)
                .build();
            // `replace_old_group`: the benchmark joins the same group repeatedly.
            StagedWelcome::build_from_welcome(&self.provider, &cfg, w)
                .unwrap()
                .replace_old_group()
                .build()
                .unwrap()
                .into_group(&self.provider)
                .unwrap()
        }
    }

    /// Decodes and validates received KeyPackages.
    pub fn parse_key_packages(m: &Member, bytes: &[Vec<u8>]) -> Vec<KeyPackage> {
        bytes
            .iter()
            .map(|b| {
                KeyPackageIn::tls_deserialize_exact(b)
                    .unwrap()
                    .validate(m.provider.crypto(), ProtocolVersion::Mls10)
                    .unwrap()
            })
            .collect()
    }

    impl Member {
        pub fn add_all(&self, g: &mut MlsGroup, kps: &[KeyPackage]) -> Vec<u8> {
            let (commit, welcome, _) = g.add_members(&self.provider, &self.signer, kps).unwrap();
            std::hint::black_box(commit.to_bytes().unwrap());
            g.merge_pending_commit(&self.provider).unwrap();
            welcome.to_bytes().unwrap()
        }

        pub fn self_update(&self, g: &mut MlsGroup) -> Vec<u8> {
            let (commit, _, _) = g
                .self_update(&self.provider, &self.signer, LeafNodeParameters::default())
                .unwrap()
                .into_contents();
            commit.to_bytes().unwrap()
        }

        /// Processes a commit up to the staged state (not merged).
        pub fn stage(&self, g: &mut MlsGroup, bytes: &[u8]) {
            let msg = MlsMessageIn::tls_deserialize_exact(bytes).unwrap();
            let pm = msg.try_into_protocol_message().unwrap();
            let p = g.process_message(&self.provider, pm).unwrap();
            std::hint::black_box(p);
        }

        pub fn send(&self, g: &mut MlsGroup, data: &[u8]) -> Vec<u8> {
            g.create_message(&self.provider, &self.signer, data)
                .unwrap()
                .to_bytes()
                .unwrap()
        }

        pub fn receive(&self, g: &mut MlsGroup, bytes: &[u8]) {
            self.stage(g, bytes);
        }
    }
}

// ----- mls-rs -----

mod rs {
    use mls_rs::client_builder::MlsConfig;
    use mls_rs::identity::SigningIdentity;
    use mls_rs::identity::basic::{BasicCredential, BasicIdentityProvider};
    use mls_rs::mls_rules::{CommitOptions, DefaultMlsRules, EncryptionOptions};
    use mls_rs::{CipherSuite, CipherSuiteProvider, Client, CryptoProvider, Group, MlsMessage};
    use mls_rs_crypto_rustcrypto::RustCryptoProvider;

    const CS: CipherSuite = CipherSuite::CURVE25519_AES128;

    pub fn client(i: usize) -> Client<impl MlsConfig> {
        let crypto = RustCryptoProvider::default();
        let cs = crypto.cipher_suite_provider(CS).unwrap();
        let (secret, public) = cs.signature_key_generate().unwrap();
        let cred = BasicCredential::new(format!("member {i}").into_bytes());
        let id = SigningIdentity::new(cred.into_credential(), public);
        Client::builder()
            .identity_provider(BasicIdentityProvider)
            .crypto_provider(crypto)
            .mls_rules(
                DefaultMlsRules::new()
                    .with_commit_options(
                        CommitOptions::new()
                            .with_path_required(true)
                            .with_ratchet_tree_extension(true)
                            .with_single_welcome_message(true),
                    )
                    .with_encryption_options(EncryptionOptions::new(
                        true,
                        mls_rs::client_builder::PaddingMode::None,
                    )),
            )
            .signing_identity(id, secret, CS)
            .build()
    }

    pub fn key_package<C: MlsConfig>(c: &Client<C>) -> MlsMessage {
        c.generate_key_package_message(Default::default(), Default::default(), None)
            .unwrap()
    }

    pub fn create<C: MlsConfig>(c: &Client<C>) -> Group<C> {
        c.create_group(Default::default(), Default::default(), None)
            .unwrap()
    }

    /// Adds everyone in one commit; returns the Welcome as bytes (the commit is serialized
    /// too: every implementation produces both messages ready to send).
    pub fn add_all<C: MlsConfig>(g: &mut Group<C>, kps: &[MlsMessage]) -> Vec<u8> {
        let mut b = g.commit_builder();
        for kp in kps {
            b = b.add_member(kp.clone()).unwrap();
        }
        let out = b.build().unwrap();
        std::hint::black_box(out.commit_message.to_bytes().unwrap());
        g.apply_pending_commit().unwrap();
        out.welcome_messages
            .into_iter()
            .next()
            .unwrap()
            .to_bytes()
            .unwrap()
    }
}

fn bench_key_packages(c: &mut Criterion) {
    let mut g = c.benchmark_group("keypackage");
    g.bench_function("nipee", |b| b.iter(|| black_box(ours::bundle(1))));
    let m = om::Member::new(1);
    g.bench_function("openmls", |b| b.iter(|| black_box(m.key_package())));
    let cl = rs::client(1);
    g.bench_function("mls-rs", |b| b.iter(|| black_box(rs::key_package(&cl))));
    g.finish();
}

fn bench_add_and_join(c: &mut Criterion) {
    for n in sizes() {
        let mut g = c.benchmark_group(format!("add_{n}"));
        g.sample_size(10);
        g.measurement_time(Duration::from_secs(if n > 1000 { 30 } else { 8 }));

        // nipee-mls
        let keys: Vec<ours::Keys> = (1..n).map(ours::Keys::new).collect();
        let kps: Vec<_> = keys.iter().map(|k| k.kp.clone()).collect();
        // Every implementation starts from the KeyPackages as received (bytes): decoding and
        // validating them is part of adding.
        let kp_bytes: Vec<Vec<u8>> = kps.iter().map(|k| k.to_bytes().unwrap()).collect();
        g.bench_function(BenchmarkId::new("nipee", n), |b| {
            b.iter_batched(
                ours::create,
                |mut grp| {
                    let kps: Vec<_> = kp_bytes
                        .iter()
                        .map(|b| nipee_keypackage::KeyPackage::from_bytes(b).unwrap())
                        .collect();
                    black_box(ours::add_all(&mut grp, &kps))
                },
                BatchSize::PerIteration,
            )
        });
        let mut creator = ours::create();
        let welcome = ours::add_all(&mut creator, &kps);
        let last = keys.last().unwrap();

        // OpenMLS
        let om_creator = om::Member::new(0);
        let om_members: Vec<om::Member> = (1..n).map(om::Member::new).collect();
        let om_kps: Vec<_> = om_members.iter().map(|m| m.key_package()).collect();
        let om_kp_bytes: Vec<Vec<u8>> = om_kps
            .iter()
            .map(|k| {
                use openmls::prelude::tls_codec::Serialize as _;
                k.tls_serialize_detached().unwrap()
            })
            .collect();
        g.bench_function(BenchmarkId::new("openmls", n), |b| {
            b.iter_batched(
                || om_creator.create(),
                |mut grp| {
                    let kps = om::parse_key_packages(&om_creator, &om_kp_bytes);
                    black_box(om_creator.add_all(&mut grp, &kps))
                },
                BatchSize::PerIteration,
            )
        });
        let mut om_group = om_creator.create();
        let om_welcome = om_creator.add_all(&mut om_group, &om_kps);

        // mls-rs
        let rs_creator = rs::client(0);
        let rs_clients: Vec<_> = (1..n).map(rs::client).collect();
        let rs_kps: Vec<_> = rs_clients.iter().map(rs::key_package).collect();
        let rs_kp_bytes: Vec<Vec<u8>> = rs_kps.iter().map(|k| k.to_bytes().unwrap()).collect();
        g.bench_function(BenchmarkId::new("mls-rs", n), |b| {
            b.iter_batched(
                || rs::create(&rs_creator),
                |mut grp| {
                    let kps: Vec<_> = rs_kp_bytes
                        .iter()
                        .map(|b| mls_rs::MlsMessage::from_bytes(b).unwrap())
                        .collect();
                    black_box(rs::add_all(&mut grp, &kps))
                },
                BatchSize::PerIteration,
            )
        });
        let mut rs_group = rs::create(&rs_creator);
        let rs_welcome = rs::add_all(&mut rs_group, &rs_kps);
        g.finish();

        let mut g = c.benchmark_group(format!("join_{n}"));
        g.sample_size(10);
        g.bench_function(BenchmarkId::new("nipee", n), |b| {
            b.iter(|| black_box(ours::join(&welcome, last)))
        });
        let om_last = om_members.last().unwrap();
        g.bench_function(BenchmarkId::new("openmls", n), |b| {
            b.iter(|| black_box(om_last.join(&om_welcome)))
        });
        let rs_last = rs_clients.last().unwrap();
        // Like the other two, mls-rs starts from the Welcome as received (bytes).
        g.bench_function(BenchmarkId::new("mls-rs", n), |b| {
            b.iter(|| {
                let w = mls_rs::MlsMessage::from_bytes(&rs_welcome).unwrap();
                black_box(rs_last.join_group(None, &w, None).unwrap())
            })
        });
        g.finish();

        // A self-update commit: created by the creator, processed by the last member.
        let mut g = c.benchmark_group(format!("update_{n}"));
        g.sample_size(10);
        let mut joined = ours::join(&welcome, last);
        let creator_state = ours::snapshot(&creator);
        let joined_state = ours::snapshot(&joined);
        g.bench_function(BenchmarkId::new("nipee/create", n), |b| {
            b.iter_batched(
                || ours::restore(&creator_state),
                |mut grp| {
                    let _ = black_box(ours::path_update(&mut grp));
                    grp
                },
                BatchSize::PerIteration,
            )
        });
        let commit = ours::path_update(&mut creator).commit;
        g.bench_function(BenchmarkId::new("nipee/process", n), |b| {
            b.iter_batched(
                || ours::restore(&joined_state),
                // The group is returned so that dropping it is not timed.
                |mut grp| {
                    black_box(grp.process_message(&commit).unwrap());
                    grp
                },
                BatchSize::PerIteration,
            )
        });
        creator.merge_pending_commit().unwrap();
        let _ = joined.process_message(&commit).unwrap();

        let mut om_joined = om_last.join(&om_welcome);
        // Processing first: creating commits without delivering them moves the sender's
        // handshake ratchet ahead of what the receiver accepts.
        g.bench_function(BenchmarkId::new("openmls/process", n), |b| {
            b.iter_batched(
                || {
                    let c = om_creator.self_update(&mut om_group);
                    om_group
                        .clear_pending_commit(om_creator.provider.storage())
                        .unwrap();
                    c
                },
                |c| om_last.stage(&mut om_joined, &c),
                BatchSize::PerIteration,
            )
        });

        g.bench_function(BenchmarkId::new("openmls/create", n), |b| {
            b.iter(|| {
                let c = om_creator.self_update(&mut om_group);
                om_group
                    .clear_pending_commit(om_creator.provider.storage())
                    .unwrap();
                black_box(c)
            })
        });
        let (mut rs_joined, _) = rs_last
            .join_group(
                None,
                &mls_rs::MlsMessage::from_bytes(&rs_welcome).unwrap(),
                None,
            )
            .unwrap();
        g.bench_function(BenchmarkId::new("mls-rs/create", n), |b| {
            b.iter_batched(
                || rs_group.clone(),
                |mut grp| {
                    // To bytes ready to send, like the other two.
                    black_box(
                        grp.commit(vec![])
                            .unwrap()
                            .commit_message
                            .to_bytes()
                            .unwrap(),
                    );
                    grp
                },
                BatchSize::PerIteration,
            )
        });
        let rs_commit = rs_group
            .commit(vec![])
            .unwrap()
            .commit_message
            .to_bytes()
            .unwrap();
        rs_group.clear_pending_commit();
        g.bench_function(BenchmarkId::new("mls-rs/process", n), |b| {
            b.iter_batched(
                || rs_joined.clone(),
                |mut grp| {
                    // From the commit as received (bytes), like the other two.
                    let m = mls_rs::MlsMessage::from_bytes(&rs_commit).unwrap();
                    black_box(grp.process_incoming_message(m).unwrap());
                    grp
                },
                BatchSize::PerIteration,
            )
        });
        let _ = &mut rs_joined;
        g.finish();

        if n == 16 {
            bench_messages(
                c,
                &mut creator,
                &mut joined,
                (&om_creator, &mut om_group),
                (om_last, &mut om_joined),
                &mut rs_group,
                &mut rs_joined,
            );
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn bench_messages<C: mls_rs::client_builder::MlsConfig>(
    c: &mut Criterion,
    sender: &mut nipee_mls::group::Group,
    receiver: &mut nipee_mls::group::Group,
    om_sender: (&om::Member, &mut openmls::prelude::MlsGroup),
    om_receiver: (&om::Member, &mut openmls::prelude::MlsGroup),
    rs_sender: &mut mls_rs::Group<C>,
    rs_receiver: &mut mls_rs::Group<C>,
) {
    let (om_s, om_sg) = om_sender;
    let (om_r, om_rg) = om_receiver;
    // All decryption benchmarks first (each iteration encrypts one message and decrypts it,
    // keeping both ratchets in step), then the encryption ones (which run the sender ahead).
    for phase in ["decrypt", "encrypt"] {
        for size in [100usize, 10 * 1024] {
            let data = vec![0x42u8; size];
            let mut g = c.benchmark_group(format!("message_{size}B_16_{phase}"));
            if phase == "decrypt" {
                g.bench_function("nipee/decrypt", |b| {
                    b.iter_batched(
                        || sender.create_message(&data, b"").unwrap(),
                        |m| black_box(receiver.process_message(&m).unwrap()),
                        BatchSize::SmallInput,
                    )
                });
            }
            if phase == "encrypt" {
                g.bench_function("nipee/encrypt", |b| {
                    b.iter(|| black_box(sender.create_message(&data, b"").unwrap()))
                });
            }
            if phase == "decrypt" {
                g.bench_function("openmls/decrypt", |b| {
                    b.iter_batched(
                        || om_s.send(om_sg, &data),
                        |m| om_r.receive(om_rg, &m),
                        BatchSize::SmallInput,
                    )
                });
            }
            if phase == "encrypt" {
                g.bench_function("openmls/encrypt", |b| {
                    b.iter(|| black_box(om_s.send(om_sg, &data)))
                });
            }
            if phase == "decrypt" {
                g.bench_function("mls-rs/decrypt", |b| {
                    b.iter_batched(
                        || {
                            rs_sender
                                .encrypt_application_message(&data, vec![])
                                .unwrap()
                                .to_bytes()
                                .unwrap()
                        },
                        // From the message as received (bytes), like the other two.
                        |m| {
                            let m = mls_rs::MlsMessage::from_bytes(&m).unwrap();
                            black_box(rs_receiver.process_incoming_message(m).unwrap())
                        },
                        BatchSize::SmallInput,
                    )
                });
            }
            if phase == "encrypt" {
                g.bench_function("mls-rs/encrypt", |b| {
                    // To bytes ready to send, like the other two.
                    b.iter(|| {
                        black_box(
                            rs_sender
                                .encrypt_application_message(&data, vec![])
                                .unwrap()
                                .to_bytes()
                                .unwrap(),
                        )
                    })
                });
            }
            g.finish();
        }
    }
}

criterion_group!(benches, bench_key_packages, bench_add_and_join);
criterion_main!(benches);
