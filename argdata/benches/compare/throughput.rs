//! Reading and encoding throughput against the crates.io `argdata` 0.1.2 and `postcard`.
//!
//! Three data sets, generated deterministically:
//!
//! * `map100k`: a map of 100 000 entries with string keys of 8 to 24 bytes and values
//!   rotating over ints (1 to 8 payload bytes, both signs), strings (0 to 48 ASCII bytes)
//!   and sequences of 0 to 8 small ints (about 3.3 MB encoded);
//! * `seq1m`: a sequence of 1 000 000 ints of random magnitude (about 6.5 MB);
//! * `configs10k`: 10 000 small configuration-sized maps, each its own message.
//!
//! "read" walks the whole value and touches every leaf (strings are checked for UTF-8);
//! "encode" turns an in-memory tree into bytes. Throughput is given in bytes of the
//! argdata encoding for every library, so the MB/s figures compare time for the same data.
//!
//! Run: `cargo bench --manifest-path argdata/benches/compare/Cargo.toml -- --warm-up-time 1
//! --measurement-time 3`.

use std::hint::black_box;
use std::io;

use argdata::{Argdata, Type, Value};
use argdata_old::ArgdataExt as _;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde::{Deserialize, Serialize};

/// SplitMix64: a small deterministic generator, so every run sees the same data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// An int whose shortest two's complement encoding has 1 to 8 bytes, either sign.
    fn int(&mut self) -> i64 {
        let bytes = 1 + self.below(8) as u32;
        let magnitude = (self.next() >> (64 - (8 * bytes - 1))) as i64;
        if self.next() & 1 == 0 {
            magnitude
        } else {
            -magnitude - 1
        }
    }

    fn ascii(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| char::from(b' ' + self.below(95) as u8))
            .collect()
    }
}

/// One value of `map100k`, in a form each library can be fed from.
#[derive(Clone, Serialize, Deserialize)]
enum Leaf<S> {
    Int(i64),
    Str(S),
    Seq(Vec<i64>),
}

fn gen_map100k() -> Vec<(String, Leaf<String>)> {
    let mut rng = Rng(1);
    (0..100_000)
        .map(|i| {
            let mut key = format!("k{i}_");
            let len = 8 + rng.below(17) as usize;
            let pad = len.saturating_sub(key.len());
            key.push_str(&rng.ascii(pad));
            let value = match i % 3 {
                0 => Leaf::Int(rng.int()),
                1 => {
                    let len = rng.below(49) as usize;
                    Leaf::Str(rng.ascii(len))
                }
                _ => {
                    let len = rng.below(9) as usize;
                    Leaf::Seq((0..len).map(|_| rng.below(200) as i64 - 100).collect())
                }
            };
            (key, value)
        })
        .collect()
}

fn gen_seq1m() -> Vec<i64> {
    let mut rng = Rng(2);
    (0..1_000_000).map(|_| rng.int()).collect()
}

/// A configuration message, as a program would receive it.
#[derive(Clone, Serialize, Deserialize)]
struct Config<S> {
    name: S,
    port: u16,
    debug: bool,
    ratio: f64,
    hosts: Vec<S>,
    workers: u32,
    limits: Limits,
}

#[derive(Clone, Serialize, Deserialize)]
struct Limits {
    cpu: u32,
    memory: u64,
}

fn gen_configs() -> Vec<Config<String>> {
    let mut rng = Rng(3);
    (0..10_000)
        .map(|i| {
            let hosts = 1 + rng.below(4) as usize;
            Config {
                name: format!("service-{i}"),
                port: rng.below(65_536) as u16,
                debug: rng.next() & 1 == 0,
                ratio: rng.below(1_000) as f64 / 7.0,
                hosts: (0..hosts)
                    .map(|_| {
                        let len = 8 + rng.below(12) as usize;
                        rng.ascii(len)
                    })
                    .collect(),
                workers: 1 + rng.below(64) as u32,
                limits: Limits {
                    cpu: rng.below(100) as u32,
                    memory: rng.next() >> 30,
                },
            }
        })
        .collect()
}

// ---- this crate ----

fn leaf_value(leaf: &Leaf<String>) -> Value {
    match leaf {
        Leaf::Int(i) => Value::from(*i),
        Leaf::Str(s) => Value::from(s.as_str()),
        Leaf::Seq(items) => Value::seq(items.iter().copied()),
    }
}

fn config_value(c: &Config<String>) -> Value {
    Value::map([
        ("name", Value::from(c.name.as_str())),
        ("port", Value::from(c.port)),
        ("debug", Value::from(c.debug)),
        ("ratio", Value::from(c.ratio)),
        (
            "hosts",
            Value::seq(c.hosts.iter().map(|h| Value::from(h.as_str()))),
        ),
        ("workers", Value::from(c.workers)),
        (
            "limits",
            Value::map([
                ("cpu", Value::from(c.limits.cpu)),
                ("memory", Value::from(c.limits.memory)),
            ]),
        ),
    ])
}

/// Reads every value; the sum keeps the optimiser from skipping work.
///
/// Leaves are read inline in their container's loop; only maps and sequences cost a call.
#[inline(always)]
fn walk(ad: Argdata<'_>) -> u64 {
    match ad.ty().unwrap() {
        Type::Int => ad.as_int::<i64>().unwrap() as u64,
        Type::Str => ad.as_str().unwrap().len() as u64,
        Type::Bool => u64::from(ad.as_bool().unwrap()),
        Type::Float => ad.as_float().unwrap().to_bits(),
        ty @ (Type::Map | Type::Seq) => walk_container(ad, ty),
        _ => 0,
    }
}

/// The sum of [`walk`] over the entries of a map or the elements of a sequence.
#[inline(never)]
fn walk_container(ad: Argdata<'_>, ty: Type) -> u64 {
    let mut acc = 0u64;
    if ty == Type::Map {
        for entry in ad.map().unwrap() {
            let (k, v) = entry.unwrap();
            acc = acc.wrapping_add(walk(k)).wrapping_add(walk(v));
        }
    } else {
        for item in ad.seq().unwrap() {
            acc = acc.wrapping_add(walk(item.unwrap()));
        }
    }
    acc
}

// ---- argdata 0.1.2 ----

mod old {
    pub(crate) use argdata_old::values::{Bool, Float, Int, Map, Seq, Str};
    pub(crate) use argdata_old::*;
}

/// A heterogeneous tree of argdata 0.1.2 values (its containers hold one item type).
enum OldNode {
    Int(old::Int<i64>),
    Str(old::Str<'static>),
    Bool(old::Bool),
    Float(old::Float),
    IntSeq(old::Seq<'static, Vec<old::Int<i64>>>),
    Seq(old::Seq<'static, Vec<OldNode>>),
    Map(old::Map<'static, Vec<(OldNode, OldNode)>>),
}

impl OldNode {
    fn inner(&self) -> &(dyn old::Argdata<'static> + '_) {
        match self {
            OldNode::Int(v) => v,
            OldNode::Str(v) => v,
            OldNode::Bool(v) => v,
            OldNode::Float(v) => v,
            OldNode::IntSeq(v) => v,
            OldNode::Seq(v) => v,
            OldNode::Map(v) => v,
        }
    }

    fn str(s: &str) -> OldNode {
        OldNode::Str(old::str(Box::leak(s.to_owned().into_boxed_str())))
    }

    fn seq(items: Vec<OldNode>) -> OldNode {
        OldNode::Seq(old::seq(Box::leak(Box::new(items))))
    }

    fn map(entries: Vec<(OldNode, OldNode)>) -> OldNode {
        OldNode::Map(old::map(Box::leak(Box::new(entries))))
    }
}

impl old::Argdata<'static> for OldNode {
    fn read<'a>(&'a self) -> Result<old::Value<'a, 'static>, old::ReadError>
    where
        'static: 'a,
    {
        self.inner().read()
    }

    fn serialize(
        &self,
        writer: &mut dyn io::Write,
        fd_map: Option<&mut dyn old::fd::FdMapping>,
    ) -> io::Result<()> {
        self.inner().serialize(writer, fd_map)
    }

    fn serialized_length(&self) -> usize {
        self.inner().serialized_length()
    }
}

fn old_leaf(leaf: &Leaf<String>) -> OldNode {
    match leaf {
        Leaf::Int(i) => OldNode::Int(old::int(*i)),
        Leaf::Str(s) => OldNode::str(s),
        Leaf::Seq(items) => OldNode::IntSeq(old::seq(Box::leak(Box::new(
            items.iter().map(|&i| old::int(i)).collect::<Vec<_>>(),
        )))),
    }
}

fn old_config(c: &Config<String>) -> OldNode {
    let entry = |k: &str, v: OldNode| (OldNode::str(k), v);
    OldNode::map(vec![
        entry("name", OldNode::str(&c.name)),
        entry("port", OldNode::Int(old::int(i64::from(c.port)))),
        entry("debug", OldNode::Bool(old::bool(c.debug))),
        entry("ratio", OldNode::Float(old::float(c.ratio))),
        entry(
            "hosts",
            OldNode::seq(c.hosts.iter().map(|h| OldNode::str(h)).collect()),
        ),
        entry("workers", OldNode::Int(old::int(i64::from(c.workers)))),
        entry(
            "limits",
            OldNode::map(vec![
                entry("cpu", OldNode::Int(old::int(i64::from(c.limits.cpu)))),
                entry("memory", OldNode::Int(old::int(c.limits.memory as i64))),
            ]),
        ),
    ])
}

fn old_walk(ad: &(dyn old::Argdata<'_> + '_)) -> u64 {
    match ad.read().unwrap() {
        old::Value::Int(_) => ad.read_int::<i64>().unwrap() as u64,
        old::Value::Str(s) => s.as_str().unwrap().len() as u64,
        old::Value::Bool(b) => u64::from(b),
        old::Value::Float(f) => f.to_bits(),
        old::Value::Map(it) => it.fold(0u64, |acc, e| {
            let (k, v) = e.unwrap();
            acc.wrapping_add(old_walk(&*k)).wrapping_add(old_walk(&*v))
        }),
        old::Value::Seq(it) => it.fold(0u64, |acc, item| {
            acc.wrapping_add(old_walk(&*item.unwrap()))
        }),
        _ => 0,
    }
}

fn old_encode(node: &OldNode, out: &mut Vec<u8>) {
    out.clear();
    old::Argdata::serialize(node, out, None).unwrap();
}

// ---- postcard ----

fn pc_walk_leaf(leaf: &Leaf<&str>) -> u64 {
    match leaf {
        Leaf::Int(i) => *i as u64,
        Leaf::Str(s) => s.len() as u64,
        Leaf::Seq(items) => items
            .iter()
            .fold(0u64, |acc, &i| acc.wrapping_add(i as u64)),
    }
}

fn pc_walk_config(c: &Config<&str>) -> u64 {
    let mut sum = c.name.len() as u64 + u64::from(c.port) + u64::from(c.debug);
    sum = sum.wrapping_add(c.ratio.to_bits());
    for h in &c.hosts {
        sum += h.len() as u64;
    }
    sum + u64::from(c.workers) + u64::from(c.limits.cpu) + c.limits.memory
}

// ---- the benchmarks ----

fn bench_set<T>(
    c: &mut Criterion,
    name: &str,
    bytes: u64,
    read: [(&str, &dyn Fn() -> T); 3],
    encode: [(&str, &mut dyn FnMut() -> usize); 3],
) {
    let mut g = c.benchmark_group(format!("{name}/read"));
    g.throughput(Throughput::Bytes(bytes));
    for (lib, f) in read {
        g.bench_function(lib, |b| b.iter(|| black_box(f())));
    }
    g.finish();
    let mut g = c.benchmark_group(format!("{name}/encode"));
    g.throughput(Throughput::Bytes(bytes));
    for (lib, f) in encode {
        g.bench_function(lib, |b| b.iter(|| black_box(f())));
    }
    g.finish();
}

fn map100k(c: &mut Criterion) {
    let data = gen_map100k();
    let value = Value::map(data.iter().map(|(k, v)| (k.as_str(), leaf_value(v))));
    let bytes = value.encode().bytes;
    let old_tree = OldNode::map(
        data.iter()
            .map(|(k, v)| (OldNode::str(k), old_leaf(v)))
            .collect(),
    );
    let pc_data: Vec<(&str, Leaf<&str>)> = data
        .iter()
        .map(|(k, v)| {
            let v = match v {
                Leaf::Int(i) => Leaf::Int(*i),
                Leaf::Str(s) => Leaf::Str(s.as_str()),
                Leaf::Seq(items) => Leaf::Seq(items.clone()),
            };
            (k.as_str(), v)
        })
        .collect();
    let pc_bytes = postcard::to_allocvec(&pc_data).unwrap();

    // Every library sees the same data.
    let mut check = Vec::new();
    old_encode(&old_tree, &mut check);
    assert_eq!(check, bytes);
    let sum = walk(Argdata::new(&bytes));
    assert_eq!(old_walk(&old::encoded(&bytes)), sum);

    let (mut out1, mut out2, mut out3) = (Vec::new(), Vec::new(), Vec::new());
    let mut fds = Vec::new();
    bench_set(
        c,
        "map100k",
        bytes.len() as u64,
        [
            ("argdata", &|| walk(Argdata::new(&bytes))),
            ("argdata_0.1.2", &|| old_walk(&old::encoded(&bytes))),
            ("postcard", &|| {
                let v: Vec<(&str, Leaf<&str>)> = postcard::from_bytes(&pc_bytes).unwrap();
                v.iter().fold(0u64, |acc, (k, l)| {
                    acc.wrapping_add(k.len() as u64)
                        .wrapping_add(pc_walk_leaf(l))
                })
            }),
        ],
        [
            ("argdata", &mut || {
                out1.clear();
                value.encode_into(&mut out1, &mut fds);
                out1.len()
            }),
            ("argdata_0.1.2", &mut || {
                old_encode(&old_tree, &mut out2);
                out2.len()
            }),
            ("postcard", &mut || {
                out3.clear();
                out3 = postcard::to_extend(&pc_data, std::mem::take(&mut out3)).unwrap();
                out3.len()
            }),
        ],
    );
}

fn seq1m(c: &mut Criterion) {
    let data = gen_seq1m();
    let value = Value::seq(data.iter().copied());
    let bytes = value.encode().bytes;
    let old_items: &'static Vec<old::Int<i64>> =
        Box::leak(Box::new(data.iter().map(|&i| old::int(i)).collect()));
    let old_tree = old::seq(old_items);
    let pc_bytes = postcard::to_allocvec(&data).unwrap();

    let mut check = Vec::new();
    old::Argdata::serialize(&old_tree, &mut check, None).unwrap();
    assert_eq!(check, bytes);

    let (mut out1, mut out2, mut out3) = (Vec::new(), Vec::new(), Vec::new());
    let mut fds = Vec::new();
    bench_set(
        c,
        "seq1m",
        bytes.len() as u64,
        [
            ("argdata", &|| walk(Argdata::new(&bytes))),
            ("argdata_0.1.2", &|| old_walk(&old::encoded(&bytes))),
            ("postcard", &|| {
                let v: Vec<i64> = postcard::from_bytes(&pc_bytes).unwrap();
                v.iter().fold(0u64, |acc, &i| acc.wrapping_add(i as u64))
            }),
        ],
        [
            ("argdata", &mut || {
                out1.clear();
                value.encode_into(&mut out1, &mut fds);
                out1.len()
            }),
            ("argdata_0.1.2", &mut || {
                out2.clear();
                old::Argdata::serialize(&old_tree, &mut out2, None).unwrap();
                out2.len()
            }),
            ("postcard", &mut || {
                out3.clear();
                out3 = postcard::to_extend(&data, std::mem::take(&mut out3)).unwrap();
                out3.len()
            }),
        ],
    );
}

fn configs10k(c: &mut Criterion) {
    let data = gen_configs();
    let values: Vec<Value> = data.iter().map(config_value).collect();
    let messages: Vec<Vec<u8>> = values.iter().map(|v| v.encode().bytes).collect();
    let total: usize = messages.iter().map(Vec::len).sum();
    let old_trees: Vec<OldNode> = data.iter().map(old_config).collect();
    let pc_messages: Vec<Vec<u8>> = data
        .iter()
        .map(|c| postcard::to_allocvec(c).unwrap())
        .collect();
    let pc_data: Vec<Config<&str>> = data
        .iter()
        .map(|c| Config {
            name: c.name.as_str(),
            port: c.port,
            debug: c.debug,
            ratio: c.ratio,
            hosts: c.hosts.iter().map(String::as_str).collect(),
            workers: c.workers,
            limits: c.limits.clone(),
        })
        .collect();

    // argdata 0.1.2 writes floats with the int tag (5 instead of 4); otherwise the
    // messages agree byte for byte.
    let mut check = Vec::new();
    for (tree, bytes) in old_trees.iter().zip(&messages) {
        old_encode(tree, &mut check);
        assert_eq!(check.len(), bytes.len());
        let float_tags = check.iter().zip(bytes).filter(|(a, b)| a != b).count();
        assert_eq!(float_tags, 1);
    }

    let (mut out1, mut out2, mut out3) = (Vec::new(), Vec::new(), Vec::new());
    let mut fds = Vec::new();
    bench_set(
        c,
        "configs10k",
        total as u64,
        [
            ("argdata", &|| {
                messages
                    .iter()
                    .fold(0u64, |acc, m| acc.wrapping_add(walk(Argdata::new(m))))
            }),
            ("argdata_0.1.2", &|| {
                messages
                    .iter()
                    .fold(0u64, |acc, m| acc.wrapping_add(old_walk(&old::encoded(m))))
            }),
            ("postcard", &|| {
                pc_messages.iter().fold(0u64, |acc, m| {
                    let c: Config<&str> = postcard::from_bytes(m).unwrap();
                    acc.wrapping_add(pc_walk_config(&c))
                })
            }),
        ],
        [
            ("argdata", &mut || {
                let mut n = 0;
                for v in &values {
                    out1.clear();
                    fds.clear();
                    v.encode_into(&mut out1, &mut fds);
                    n += out1.len();
                }
                n
            }),
            ("argdata_0.1.2", &mut || {
                let mut n = 0;
                for t in &old_trees {
                    old_encode(t, &mut out2);
                    n += out2.len();
                }
                n
            }),
            ("postcard", &mut || {
                let mut n = 0;
                for c in &pc_data {
                    out3.clear();
                    out3 = postcard::to_extend(c, std::mem::take(&mut out3)).unwrap();
                    n += out3.len();
                }
                n
            }),
        ],
    );
}

criterion_group!(benches, map100k, seq1m, configs10k);
criterion_main!(benches);
