//! Routing at province scale: [`synthetic_province`] builds a directory, gazetteer and
//! catalogue of the size of a province (≈100 counties, 1,400 townships, 20,000 villages, 50
//! categories, 100,000 rules) with generated but plausible names, and [`run`] routes the
//! caller's message texts through it, single-threaded, and reports the latency of each
//! decision (location resolution + catalogue match + guard), overall, by kind of decision, and
//! by pass.
//!
//! The corpus texts name no place of the synthetic province, so each message is given one, the
//! way channels do: a division code, an incident address, or a place named in its text; some
//! get none. Texts that contain 举报/检举/控告 are routed as accusations, half of them naming a
//! township's officials.

use std::collections::HashMap;
use std::fmt;
use std::hint::black_box;
use std::time::Instant;

use crate::config::{
    AreaConfig, DeliveryConfig, Level, RequestType, RouterConfig, RuleConfig, UnitConfig,
};
use crate::{ConfigErrors, RouteInput, RouteOutcome, Router};

/// The size of the synthetic province.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvinceShape {
    /// 地级市. At least 1.
    pub cities: usize,
    /// 县级, spread over the cities: at most 99 per city.
    pub counties: usize,
    /// 乡级 (街道, 镇, 乡), spread over the counties: at least 1 and at most 210 per county.
    pub townships: usize,
    /// 村级 (社区, 村), spread over the townships: at most 202 per township.
    pub villages: usize,
    /// Categories (taxonomy labels); each county has 10 departments sharing them.
    pub categories: usize,
    /// Catalogue rules, in this order until the number is reached: county × category,
    /// city × category, township × 10 categories, village × 3 categories, then township ×
    /// category × request type.
    pub rules: usize,
    /// Seed of the name and traffic generator: the same seed, the same province.
    pub seed: u64,
}

impl Default for ProvinceShape {
    /// The issue's province: ≈100 counties, 1,400 townships, 20,000 villages, 50 categories,
    /// 100,000 rules.
    fn default() -> ProvinceShape {
        ProvinceShape {
            cities: 11,
            counties: 100,
            townships: 1_400,
            villages: 20_000,
            categories: 50,
            rules: 100_000,
            seed: 2026,
        }
    }
}

/// A message's text, as the corpus gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageText {
    /// 标题
    pub title: String,
    /// 正文
    pub body: String,
}

/// What a run measured. Its display ends with `p50_us=N p99_us=N`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BenchReport {
    /// Units in the directory.
    pub units: usize,
    /// Areas in the gazetteer.
    pub areas: usize,
    /// Catalogue rules.
    pub rules: usize,
    /// Time to validate and index the configuration.
    pub build_ms: u128,
    /// Messages routed per pass.
    pub messages: usize,
    /// Decisions timed: every message in each timed pass.
    pub samples: usize,
    /// Outcomes of one pass: dispatched by a rule, by the government fallback, by the guard.
    pub by_rule: usize,
    /// See `by_rule`.
    pub by_fallback: usize,
    /// See `by_rule`.
    pub by_guard: usize,
    /// Outcomes of one pass that went to the dispatch centre.
    pub centre_queue: usize,
    /// Locations of one pass by source: channel code, address, title/body, none.
    pub located: [usize; 4],
    /// Latency by kind of decision over all passes, as (p50, p99) in nanoseconds: located by
    /// channel code, by address, by title/body, not located, and accusations (read whole,
    /// guard applied).
    pub by_kind: [(u64, u64); 5],
    /// The p99 of each timed pass, in nanoseconds, in the order run.
    pub pass_p99_ns: Vec<u64>,
    /// p50 and p99 of the median pass (by p99), in nanoseconds: the headline figures. Other
    /// processes on the machine shift whole passes; the median pass is robust to a burst of
    /// them without picking the luckiest.
    pub p50_ns: u64,
    /// See `p50_ns`.
    pub p99_ns: u64,
    /// Percentiles of all passes' samples pooled, in nanoseconds.
    pub pooled_p50_ns: u64,
    /// See `pooled_p50_ns`.
    pub pooled_p99_ns: u64,
    /// The slowest decision of all passes, in nanoseconds.
    pub max_ns: u64,
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [channel, address, text, none] = self.located;
        writeln!(
            f,
            "province: units={} areas={} rules={} build_ms={}",
            self.units, self.areas, self.rules, self.build_ms
        )?;
        writeln!(
            f,
            "routed: messages={} rule={} fallback={} guard={} centre_queue={} \
             located_by channel={channel} address={address} text={text} none={none}",
            self.messages, self.by_rule, self.by_fallback, self.by_guard, self.centre_queue
        )?;
        writeln!(
            f,
            "latency_ns pooled: samples={} p50={} p99={} max={}",
            self.samples, self.pooled_p50_ns, self.pooled_p99_ns, self.max_ns
        )?;
        let kinds = ["channel", "address", "text", "none", "accusation"];
        let by_kind: Vec<String> = kinds
            .iter()
            .zip(self.by_kind)
            .map(|(kind, (p50, p99))| format!("{kind}={p50}/{p99}"))
            .collect();
        writeln!(f, "latency_ns p50/p99 by kind: {}", by_kind.join(" "))?;
        let passes: Vec<String> = self.pass_p99_ns.iter().map(u64::to_string).collect();
        writeln!(
            f,
            "latency_ns p99 by pass: {} (the median pass below: p50={} p99={})",
            passes.join(" "),
            self.p50_ns,
            self.p99_ns
        )?;
        // Whole microseconds, rounded up: a target read off this line is never flattered.
        write!(
            f,
            "p50_us={} p99_us={}",
            self.p50_ns.div_ceil(1000),
            self.p99_ns.div_ceil(1000)
        )
    }
}

/// Timed passes over the messages: odd, so that one is the median.
const TIMED_PASSES: usize = 7;

/// Builds the province of `shape`, routes every message once to warm up, then seven times
/// timing each decision.
pub fn run(shape: &ProvinceShape, messages: &[MessageText]) -> Result<BenchReport, ConfigErrors> {
    let config = synthetic_province(shape);
    let started = Instant::now();
    let router = Router::new(&config)?;
    let build_ms = started.elapsed().as_millis();
    let traffic = traffic(&config, shape.seed, messages);
    let inputs: Vec<RouteInput<'_>> = traffic.iter().map(Message::input).collect();

    let mut report = BenchReport {
        units: config.units.len(),
        areas: config.areas.len(),
        rules: config.rules.len(),
        build_ms,
        messages: inputs.len(),
        samples: 0,
        by_rule: 0,
        by_fallback: 0,
        by_guard: 0,
        centre_queue: 0,
        located: [0; 4],
        by_kind: [(0, 0); 5],
        pass_p99_ns: Vec::with_capacity(TIMED_PASSES),
        p50_ns: 0,
        p99_ns: 0,
        pooled_p50_ns: 0,
        pooled_p99_ns: 0,
        max_ns: 0,
    };
    // The untimed first pass warms the caches up and counts the outcomes.
    let mut kinds = Vec::with_capacity(inputs.len());
    for input in &inputs {
        let outcome = router.route(input);
        let located = outcome.location().map_or(3, |l| l.source as usize);
        report.located[located] += 1;
        kinds.push(if input.is_accusation { 4 } else { located });
        match outcome {
            RouteOutcome::Dispatch(d) if d.guard.as_ref().is_some_and(|g| g.guarded()) => {
                report.by_guard += 1;
            }
            RouteOutcome::Dispatch(d) if d.fallback => report.by_fallback += 1,
            RouteOutcome::Dispatch(_) => report.by_rule += 1,
            RouteOutcome::CentreQueue(_) => report.centre_queue += 1,
        }
    }
    let mut samples = Vec::with_capacity(inputs.len() * TIMED_PASSES);
    let mut passes = Vec::with_capacity(TIMED_PASSES);
    for _ in 0..TIMED_PASSES {
        let mut pass = Vec::with_capacity(inputs.len());
        for input in &inputs {
            let started = Instant::now();
            black_box(router.route(black_box(input)));
            pass.push(started.elapsed().as_nanos() as u64);
        }
        samples.extend_from_slice(&pass);
        pass.sort_unstable();
        passes.push((percentile(&pass, 0.50), percentile(&pass, 0.99)));
    }
    for (kind, slot) in report.by_kind.iter_mut().enumerate() {
        let mut of_kind: Vec<u64> = samples
            .iter()
            .enumerate()
            .filter(|&(i, _)| kinds[i % kinds.len()] == kind)
            .map(|(_, &ns)| ns)
            .collect();
        of_kind.sort_unstable();
        *slot = (percentile(&of_kind, 0.50), percentile(&of_kind, 0.99));
    }
    report.pass_p99_ns = passes.iter().map(|&(_, p99)| p99).collect();
    passes.sort_unstable_by_key(|&(_, p99)| p99);
    (report.p50_ns, report.p99_ns) = passes[passes.len() / 2];
    samples.sort_unstable();
    report.samples = samples.len();
    report.pooled_p50_ns = percentile(&samples, 0.50);
    report.pooled_p99_ns = percentile(&samples, 0.99);
    report.max_ns = samples.last().copied().unwrap_or(0);
    Ok(report)
}

/// The `q` quantile of sorted `samples`, 0 for none.
fn percentile(samples: &[u64], q: f64) -> u64 {
    let at = ((samples.len() as f64 * q) as usize).min(samples.len().saturating_sub(1));
    samples.get(at).copied().unwrap_or(0)
}

/// Place-name syllables: the first is often a surname or a direction, the second a landform.
const FIRST: &str = "东西南北中新石大小上下前后黄白青金银龙凤马牛杨柳桃李张王陈刘周吴郑何高林罗梁宋唐许韩冯邓曹彭曾肖田董潘袁蔡蒋余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范廖贾夏付方邹熊孟秦江阎薛尹段雷黎史龚陶贺毛郝顾邵万覃武钱戴严莫孔向常汤康易乔赖文";
const SECOND: &str = "山水溪河湖江桥岭坑塘坞岙田庄湾口头源岗坪林园店堰畈墩阳安平兴华丰宁和泉峰洲沙桑浦港埠门关渡岩垅垄里圩塆寨屯营堡亭";

/// County departments: (name, short name), each handling five consecutive `CATEGORIES` (and
/// every tenth generated one beyond them).
const DEPARTMENTS: [(&str, &str); 10] = [
    ("住房和城乡建设局", "住建局"),
    ("生态环境分局", "环保局"),
    ("交通运输局", "交通局"),
    ("教育局", "教育局"),
    ("人力资源和社会保障局", "人社局"),
    ("商务局", "商务局"),
    ("卫生健康局", "卫健局"),
    ("市场监督管理局", "市场监管局"),
    ("农业农村局", "农业局"),
    ("自然资源和规划局", "自然资源局"),
];

/// 50 categories, five per department in `DEPARTMENTS` order; the first of each five is a
/// label of the default taxonomy where one fits.
#[rustfmt::skip]
const CATEGORIES: [&str; 50] = [
    "城乡建设", "物业管理", "房屋安全", "燃气管理", "市政设施",
    "环境保护", "大气污染", "水污染", "噪声污染", "固体废物",
    "交通运输", "公交出行", "道路养护", "出租车管理", "货运物流",
    "教育文体", "招生入学", "校外培训", "学校安全", "教师管理",
    "劳动和社会保障", "欠薪维权", "社会保险", "就业创业", "人事考试",
    "商贸旅游", "市场秩序", "旅游服务", "电子商务", "餐饮服务",
    "卫生计生", "医疗服务", "疾病防控", "母婴保健", "医疗纠纷",
    "食品安全", "产品质量", "价格监管", "消费维权", "特种设备",
    "农村农业", "农民负担", "土地承包", "动物防疫", "农资质量",
    "国土资源", "规划许可", "不动产登记", "矿产资源", "林业管理",
];

/// The name of category `i`, and the department that handles it.
fn category(i: usize) -> (String, usize) {
    match CATEGORIES.get(i) {
        Some(name) => ((*name).to_owned(), i / 5),
        None => (format!("专项事务{}", i + 1), i % DEPARTMENTS.len()),
    }
}

/// splitmix64: small, fast and reproducible; the generator needs no more.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick(&mut self, chars: &[char]) -> char {
        chars[self.below(chars.len())]
    }
}

/// Generates place-name stems.
struct Namer {
    rng: Rng,
    first: Vec<char>,
    second: Vec<char>,
}

impl Namer {
    fn new(seed: u64) -> Namer {
        Namer {
            rng: Rng(seed),
            first: FIRST.chars().collect(),
            second: SECOND.chars().collect(),
        }
    }

    /// A new stem, different from every sibling's (siblings may share names in other parents,
    /// as real ones do).
    fn stem(&mut self, siblings: &mut Vec<String>, village: bool) -> String {
        loop {
            let mut name = String::new();
            name.push(self.rng.pick(&self.first));
            // Many villages carry a clan name: 郑家坞, 张家山.
            if village && self.rng.below(3) == 0 {
                name.push('家');
            }
            name.push(self.rng.pick(&self.second));
            if !siblings.contains(&name) {
                siblings.push(name.clone());
                return name;
            }
        }
    }
}

fn unit(id: String, name: String, level: Level, code: &str) -> UnitConfig {
    UnitConfig {
        id,
        name,
        aliases: Vec::new(),
        level,
        division_code: code.to_owned(),
        government: false,
        functions: Vec::new(),
        supervisor: None,
        discipline: None,
        delivery: DeliveryConfig::default(),
    }
}

fn area(code: &str, name: String) -> AreaConfig {
    AreaConfig {
        code: code.to_owned(),
        name,
        aliases: Vec::new(),
        government: None,
    }
}

/// A province of `shape`: every unit, area and rule valid, names generated from `shape.seed`.
///
/// # Panics
/// When `shape` exceeds the code space its fields document (e.g. 100 counties in one city).
pub fn synthetic_province(shape: &ProvinceShape) -> RouterConfig {
    assert!(
        shape.cities >= 1 && shape.counties >= 1 && shape.townships >= 1,
        "a province needs a city, a county and a township"
    );
    assert!(
        shape.counties.div_ceil(shape.cities) <= 99,
        "at most 99 counties per city"
    );
    let mut namer = Namer::new(shape.seed);
    let mut units = Vec::new();
    let mut areas = Vec::new();
    let province = "99";
    let mut governor = unit(
        "prov".into(),
        "东海省人民政府".into(),
        Level::Province,
        province,
    );
    governor.government = true;
    governor.functions = vec!["*".into()];
    units.push(governor);
    units.push(unit(
        "prov-discipline".into(),
        "东海省纪委监委".into(),
        Level::Province,
        province,
    ));
    areas.push(area(province, "东海省".into()));

    let categories: Vec<(String, usize)> = (0..shape.categories).map(category).collect();
    let mut city_codes = Vec::new();
    let mut names = Vec::new();
    for c in 0..shape.cities {
        let code = format!("{province}{:02}", c + 1);
        let name = format!("{}市", namer.stem(&mut names, false));
        let mut government = unit(
            format!("c{code}"),
            format!("{name}人民政府"),
            Level::City,
            &code,
        );
        government.government = true;
        government.functions = vec!["*".into()];
        government.supervisor = Some("prov".into());
        units.push(government);
        let mut discipline = unit(
            format!("c{code}-discipline"),
            format!("{name}纪委监委"),
            Level::City,
            &code,
        );
        discipline.supervisor = Some("prov-discipline".into());
        discipline.discipline = Some("prov-discipline".into());
        units.push(discipline);
        areas.push(area(&code, name));
        city_codes.push(code);
    }

    // Counties round-robin over the cities, townships over the counties, villages over the
    // townships; each numbered in its parent's code space (街道 001, 镇 101, 乡 200; 社区 001,
    // 村 200).
    let mut county_codes = Vec::new();
    let mut county_names: HashMap<String, Vec<String>> = HashMap::new();
    for k in 0..shape.counties {
        let city = &city_codes[k % shape.cities];
        let seq = k / shape.cities;
        let code = format!("{city}{:02}", seq + 1);
        let siblings = county_names.entry(city.clone()).or_default();
        let suffix = ["县", "县", "县", "区", "市"][namer.rng.below(5)];
        let name = format!("{}{suffix}", namer.stem(siblings, false));
        let (gov, disc) = (format!("k{code}"), format!("k{code}-discipline"));
        let mut government = unit(gov.clone(), format!("{name}人民政府"), Level::County, &code);
        government.aliases = vec![format!("{name}政府")];
        government.government = true;
        government.functions = vec!["*".into()];
        government.supervisor = Some(format!("c{city}"));
        government.discipline = Some(format!("c{city}-discipline"));
        units.push(government);
        let mut discipline = unit(
            disc.clone(),
            format!("{name}纪委监委"),
            Level::County,
            &code,
        );
        discipline.aliases = vec![format!("{name}纪委")];
        discipline.supervisor = Some(format!("c{city}-discipline"));
        discipline.discipline = Some(format!("c{city}-discipline"));
        units.push(discipline);
        for (d, (department, short)) in DEPARTMENTS.iter().enumerate() {
            let mut dept = unit(
                format!("k{code}-d{d}"),
                format!("{name}{department}"),
                Level::County,
                &code,
            );
            if department != short {
                dept.aliases = vec![format!("{name}{short}")];
            }
            dept.functions = categories
                .iter()
                .filter(|(_, owner)| *owner == d)
                .map(|(category, _)| category.clone())
                .collect();
            dept.supervisor = Some(gov.clone());
            dept.discipline = Some(disc.clone());
            units.push(dept);
        }
        areas.push(area(&code, name));
        county_codes.push(code);
    }

    let mut township_codes = Vec::new();
    let mut township_names: HashMap<usize, Vec<String>> = HashMap::new();
    let townships = shape.townships;
    for t in 0..townships {
        let county_index = t % shape.counties;
        let county = &county_codes[county_index];
        let seq = t / shape.counties;
        let (number, suffix) = match seq {
            0..3 => (1 + seq, "街道"),
            3..11 => (101 + seq - 3, "镇"),
            _ => (200 + seq - 11, "乡"),
        };
        assert!(number <= 399, "at most 210 townships per county");
        let code = format!("{county}{number:03}");
        let siblings = township_names.entry(county_index).or_default();
        let name = format!("{}{suffix}", namer.stem(siblings, false));
        let organ = if suffix == "街道" {
            "办事处"
        } else {
            "人民政府"
        };
        let mut government = unit(
            format!("t{code}"),
            format!("{name}{organ}"),
            Level::Township,
            &code,
        );
        government.government = true;
        government.functions = vec!["*".into()];
        government.supervisor = Some(format!("k{county}"));
        government.discipline = Some(format!("k{county}-discipline"));
        units.push(government);
        areas.push(area(&code, name));
        township_codes.push((code, county_index));
    }

    let mut village_codes = Vec::new();
    let mut village_names: HashMap<usize, Vec<String>> = HashMap::new();
    for v in 0..shape.villages {
        let township_index = v % townships;
        let (township, county_index) = &township_codes[township_index];
        let seq = v / townships;
        let (number, suffix, organ) = match seq {
            0..2 => (1 + seq, "社区", "居民委员会"),
            _ => (200 + seq - 2, "村", "村民委员会"),
        };
        assert!(number <= 399, "at most 202 villages per township");
        let code = format!("{township}{number:03}");
        let siblings = village_names.entry(township_index).or_default();
        let name = format!("{}{suffix}", namer.stem(siblings, true));
        let mut committee = unit(
            format!("v{code}"),
            format!("{name}{organ}"),
            Level::Village,
            &code,
        );
        committee.government = true;
        committee.functions = vec!["*".into()];
        committee.supervisor = Some(format!("t{township}"));
        committee.discipline = Some(format!("k{}-discipline", county_codes[*county_index]));
        units.push(committee);
        areas.push(area(&code, name));
        village_codes.push(code);
    }

    let rules = catalogue_rules(
        shape,
        &categories,
        &city_codes,
        &county_codes,
        &township_codes,
        &village_codes,
    );
    RouterConfig {
        version: format!("synthetic-{}", shape.seed),
        default_discipline_unit: "prov-discipline".into(),
        units,
        areas,
        rules,
    }
}

fn catalogue_rules(
    shape: &ProvinceShape,
    categories: &[(String, usize)],
    cities: &[String],
    counties: &[String],
    townships: &[(String, usize)],
    villages: &[String],
) -> Vec<RuleConfig> {
    let rule =
        |id: String, category: &str, request_type, area: &str, lead: String, assist| RuleConfig {
            id,
            category: category.to_owned(),
            request_type,
            area_prefix: area.to_owned(),
            lead,
            assist,
        };
    let n = categories.len();
    let mut rules = Vec::with_capacity(shape.rules);
    let county_rules = counties.iter().flat_map(|county| {
        categories
            .iter()
            .enumerate()
            .map(move |(c, (category, dept))| {
                rule(
                    format!("k{county}-c{c}"),
                    category,
                    None,
                    county,
                    format!("k{county}-d{dept}"),
                    Vec::new(),
                )
            })
    });
    let city_rules = cities.iter().flat_map(|city| {
        categories
            .iter()
            .enumerate()
            .map(move |(c, (category, _))| {
                rule(
                    format!("c{city}-c{c}"),
                    category,
                    None,
                    city,
                    format!("c{city}"),
                    Vec::new(),
                )
            })
    });
    // Local matters of a department's first category go to the township, the department
    // assisting (属地管理).
    let township_rules = townships.iter().flat_map(|(township, county)| {
        categories
            .iter()
            .enumerate()
            .step_by(5)
            .map(move |(c, (category, dept))| {
                let assist = vec![format!("k{}-d{dept}", counties[*county])];
                rule(
                    format!("t{township}-c{c}"),
                    category,
                    None,
                    township,
                    format!("t{township}"),
                    assist,
                )
            })
    });
    // 小事不出村: three categories each village settles itself.
    let village_rules = villages.iter().enumerate().flat_map(|(v, village)| {
        let mut picked: Vec<usize> = (0..3).map(|j| (v * 7 + j * 11) % n).collect();
        picked.sort_unstable();
        picked.dedup();
        picked.into_iter().map(move |c| {
            rule(
                format!("v{village}-c{c}"),
                &categories[c].0,
                None,
                village,
                format!("v{village}"),
                Vec::new(),
            )
        })
    });
    let typed_rules = RequestType::ALL.into_iter().flat_map(|kind| {
        (0..n).flat_map(move |c| {
            townships.iter().map(move |(township, county)| {
                let (category, dept) = &categories[c];
                let assist = vec![format!("k{}-d{dept}", counties[*county])];
                let id = format!("t{township}-c{c}-{}", format!("{kind:?}").to_lowercase());
                rule(
                    id,
                    category,
                    Some(kind),
                    township,
                    format!("t{township}"),
                    assist,
                )
            })
        })
    });
    rules.extend(
        county_rules
            .chain(city_rules)
            .chain(township_rules)
            .chain(village_rules)
            .chain(typed_rules)
            .take(shape.rules),
    );
    rules
}

/// One message as a channel would send it to the synthetic province.
struct Message {
    category: String,
    request_type: Option<RequestType>,
    division_code: String,
    address: String,
    title: String,
    body: String,
    is_accusation: bool,
    reporter_consents: bool,
}

impl Message {
    fn input(&self) -> RouteInput<'_> {
        RouteInput {
            category: &self.category,
            request_type: self.request_type,
            division_code: &self.division_code,
            address: &self.address,
            title: &self.title,
            body: &self.body,
            is_accusation: self.is_accusation,
            reporter_consents: self.reporter_consents,
        }
    }
}

/// The messages with a place, a category and the accusation flag given to each. Of the
/// places: 20% a channel's division code, 35% an incident address, 30% named in the body, 7% a
/// township in the title, 8% none.
fn traffic(config: &RouterConfig, seed: u64, texts: &[MessageText]) -> Vec<Message> {
    let mut rng = Rng(seed ^ 0x5EED);
    let names: HashMap<&str, &str> = config
        .areas
        .iter()
        .map(|a| (a.code.as_str(), a.name.as_str()))
        .collect();
    let villages: Vec<&str> = config
        .areas
        .iter()
        .filter(|a| a.code.len() == 12)
        .map(|a| a.code.as_str())
        .collect();
    let mut categories: Vec<&str> = Vec::new();
    for rule in &config.rules {
        if !categories.contains(&rule.category.as_str()) {
            categories.push(&rule.category);
        }
    }
    let bare = |name: &str| {
        ["街道", "社区", "镇", "乡", "村", "县", "区", "市"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(name)
            .to_owned()
    };
    texts
        .iter()
        .map(|text| {
            let (mut title, mut body) = (text.title.clone(), text.body.clone());
            let mut address = String::new();
            let mut division_code = String::new();
            let code = villages
                .get(rng.below(villages.len().max(1)))
                .copied()
                .unwrap_or_default();
            let name = |len: usize| code.get(..len).map_or("", |c| names[c]);
            let (village, township, county) = (name(12), name(9), name(6));
            match rng.below(100) {
                0..20 => {
                    let len = if rng.below(2) == 0 { 9 } else { 12 };
                    division_code = code.get(..len).unwrap_or_default().to_owned();
                }
                20..55 => {
                    address = match rng.below(3) {
                        0 => format!("{county}{township}{village}{}组", 1 + rng.below(9)),
                        1 => format!("{}{village}{}号", bare(township), 1 + rng.below(99)),
                        _ => format!("{}{}附近", bare(county), bare(township)),
                    };
                }
                55..85 => body = format!("我是{township}{}的村民，{body}", bare(village)),
                85..92 => title = format!("{}{title}", bare(township)),
                _ => {}
            }
            let is_accusation = ["举报", "检举", "控告"]
                .iter()
                .any(|w| text.title.contains(w) || text.body.contains(w));
            if is_accusation && rng.below(2) == 0 {
                let post = ["镇长", "书记", "政府", "干部"][rng.below(4)];
                body = format!("{township}{post}失职。{body}");
            }
            let category = if rng.below(20) == 0 || categories.is_empty() {
                String::new()
            } else {
                categories[rng.below(categories.len())].to_owned()
            };
            let request_type = (rng.below(5) != 0).then(|| RequestType::ALL[rng.below(5)]);
            Message {
                category,
                request_type,
                division_code,
                address,
                title,
                body,
                is_accusation,
                reporter_consents: rng.below(5) == 0,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: ProvinceShape = ProvinceShape {
        cities: 2,
        counties: 4,
        townships: 20,
        villages: 100,
        categories: 12,
        rules: 400,
        seed: 7,
    };

    fn name<'c>(config: &'c RouterConfig, code: &str) -> &'c str {
        let area = config.areas.iter().find(|a| a.code == code);
        &area.expect("generated area").name
    }

    #[test]
    fn a_synthetic_province_routes_by_its_own_names() {
        let config = synthetic_province(&SMALL);
        // 2 province units, 2 per city, 12 per county, 1 per township and village.
        assert_eq!(config.units.len(), 2 + 2 * 2 + 4 * 12 + 20 + 100);
        assert_eq!(config.areas.len(), 1 + 2 + 4 + 20 + 100);
        assert_eq!(config.rules.len(), 400);
        let router = Router::new(&config).expect("a generated province is valid");
        let villages = config.areas.iter().filter(|a| a.code.len() == 12);
        let mut checked = 0;
        for village in villages.take(30) {
            let code = &village.code;
            let address = format!(
                "{}{}{}8号",
                name(&config, &code[..6]),
                name(&config, &code[..9]),
                village.name
            );
            for rule in config.rules.iter().filter(|r| &r.area_prefix == code) {
                let outcome = router.route(&RouteInput {
                    category: &rule.category,
                    address: &address,
                    ..Default::default()
                });
                let location = outcome.location().expect("found");
                assert_eq!(location.division_code, *code, "{address}");
                match outcome {
                    RouteOutcome::Dispatch(d) => {
                        assert_eq!(
                            (d.rule_id.as_str(), d.lead),
                            (rule.id.as_str(), format!("v{code}"))
                        );
                    }
                    other => panic!("{address}: {other:?}"),
                }
                checked += 1;
            }
        }
        assert!(checked >= 30, "{checked}");
    }

    #[test]
    fn the_issue_sized_province_is_valid() {
        let config = synthetic_province(&ProvinceShape::default());
        assert_eq!(
            (config.units.len(), config.areas.len(), config.rules.len()),
            (22_624, 21_512, 100_000)
        );
        Router::new(&config).expect("valid");
    }

    #[test]
    fn the_report_ends_with_the_percentiles() {
        let messages = [
            ("小区路灯坏了", "我们小区门口的路灯坏了一个月了。"),
            ("", "公司拖欠工资三个月，多次讨要无果。"),
            ("举报镇政府干部", "举报镇政府干部吃拿卡要。"),
            ("咨询", ""),
        ]
        .map(|(title, body)| MessageText {
            title: title.into(),
            body: body.into(),
        });
        let report = run(&SMALL, &messages).expect("runs");
        assert_eq!(report.messages, 4);
        assert_eq!(report.samples, 4 * TIMED_PASSES);
        assert_eq!(report.located.iter().sum::<usize>(), 4);
        assert!(report.p50_ns <= report.p99_ns && report.p99_ns <= report.max_ns);
        assert_eq!(report.pass_p99_ns.len(), TIMED_PASSES);
        assert!(report.pass_p99_ns.contains(&report.p99_ns));
        let shown = report.to_string();
        let last = shown.lines().last().expect("lines");
        let expected = format!(
            "p50_us={} p99_us={}",
            report.p50_ns.div_ceil(1000),
            report.p99_ns.div_ceil(1000)
        );
        assert_eq!(last, expected);
        assert!(shown.ends_with(&expected));
    }
}
