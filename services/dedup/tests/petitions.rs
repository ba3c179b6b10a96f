//! The detector and the index on petitions written for these tests: each kind of re-post edit is
//! recognised, different matters are kept apart, and the outcomes follow who filed what, where and
//! when.

use minhu_dedup::data::{LabelledPair, Message};
use minhu_dedup::decide::{DAY, Decision, Division, Facts, Outcome, PetitionerKey, Policy};
use minhu_dedup::detector::Detector;
use minhu_dedup::edits::EditKind;
use minhu_dedup::eval::{eval_corpus, eval_pairs};
use minhu_dedup::index::Index;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const NOISE_TITLE: &str = "夜间施工噪音扰民";
const NOISE: &str = "仙华街道东门路口的工地每天晚上十点以后还在施工，打桩机的声音一直响到凌晨两三点，\
    附近三个小区的居民都无法入睡。我们已经多次拨打12345反映，工地只停了两天又照常施工。\
    请城管和环保部门尽快查处，严格限定夜间施工时间。";

/// Six different matters. The last two share the first one's topic (a nuisance next to homes)
/// and wording habits, not its matter.
const MATTERS: &[(&str, &str)] = &[
    (NOISE_TITLE, NOISE),
    (
        "新华村路灯坏了三个月",
        "黄宅镇新华村的路灯坏了快三个月了，村口到小学那段路晚上一片漆黑，上周还有一位老人骑电动车\
         摔伤。村委会说要等镇里统一维修，一直没有消息。希望有关部门尽快安排人员修复路灯，保障村民\
         夜间出行安全。",
    ),
    (
        "服装厂拖欠四个月工资",
        "我在浦阳街道一家服装厂工作了八个月，老板拖欠我和二十多名工友共计四个月的工资，金额约三十\
         万元。多次找老板协商，他总说资金周转困难，现在厂里已经停工，老板电话也打不通。恳请劳动\
         监察部门介入，帮我们讨回血汗钱。",
    ),
    (
        "中心小学乱收课后服务费",
        "岩头镇中心小学本学期向每位学生收取五百元的所谓课后服务费，没有任何收费文件，也没有开具\
         发票。家长们问学校，学校说是自愿，但不交的学生就不能参加下午的课程。请教育局调查这项收费\
         是否合规。",
    ),
    (
        "搅拌站灰尘影响学生上学",
        "檀溪镇中学旁边的搅拌站每天早上五点就开始作业，大型货车进出扬起大量灰尘，学生上学路上全是\
         泥浆。我们已经向镇政府反映过两次，至今没有任何整改。请环保部门核查该搅拌站是否有合法手续。",
    ),
    (
        "夜间施工噪音扰民",
        "浦南街道滨江花园北侧的工地每天晚上施工到十二点，渣土车来回穿行，按喇叭的声音很吵，\
         小区里的老人和孩子都睡不好。物业说管不了。请住建部门核实这个工地有没有夜间施工许可。",
    ),
];

/// The noise petition as it comes back, edited by hand, one kind of edit each.
fn hand_edits() -> Vec<(&'static str, String)> {
    vec![
        (
            "punctuation",
            "仙华街道东门路口的工地每天晚上十点以后还在施工,打桩机的声音一直响到凌晨两三点!!\n\
             附近三个小区的居民都无法入睡.我们已经多次拨打12345反映、工地只停了两天又照常施工 \
             请城管和环保部门尽快查处;严格限定夜间施工时间！！！"
                .to_owned(),
        ),
        (
            "greeting+signature",
            format!("尊敬的领导：您好！\n{NOISE}\n望领导重视，谢谢！\n——东门小区一位业主，联系电话138****0012"),
        ),
        (
            "reordered",
            "我们已经多次拨打12345反映，工地只停了两天又照常施工。请城管和环保部门尽快查处，严格\
             限定夜间施工时间。仙华街道东门路口的工地每天晚上十点以后还在施工，打桩机的声音一直响到\
             凌晨两三点，附近三个小区的居民都无法入睡。"
                .to_owned(),
        ),
        (
            "changed-chars",
            "仙华街道东门路口的工地每天晚上十一点以后还在施工，打桩机的声音一直响到凌晨三点，\
             附近四个小区的居民都无法入睡。我们已经多次拨打12345反映，工地只停了三天又照常施工。\
             请城管和环保部门尽快查处，严格限定夜间施工时间。"
                .to_owned(),
        ),
        (
            "combined",
            "领导你好：再次反映！我们已经多次拨打12345反映,工地只停了三天又照常施工.请城管和环保部门\
             尽快查处，严格限定夜间施工的时间。\n仙华街道东门路口的工地每天晚上十一点以后还在施工，\
             打桩机的声音一直响到凌晨两三点，附近四个小区居民都无法入睡！\n此致敬礼 东门小区业主"
                .to_owned(),
        ),
    ]
}

#[test]
fn each_kind_of_hand_edit_is_recognised() {
    let detector = Detector::default();
    let original = detector.sketch(NOISE_TITLE, NOISE);
    for (kind, body) in hand_edits() {
        let edited = detector.sketch(NOISE_TITLE, &body);
        let similarity = detector.compare(&original, &edited);
        assert!(
            similarity.is_some(),
            "{kind}: {:?}",
            original.fingerprint.similarity(&edited.fingerprint)
        );
    }
}

#[test]
fn each_kind_of_generated_edit_is_recognised() {
    let detector = Detector::default();
    let mut rng = StdRng::seed_from_u64(11);
    for (title, body) in MATTERS {
        let original = detector.sketch(title, body);
        for kind in EditKind::ALL {
            for _ in 0..10 {
                let edited = kind.apply(body, &mut rng);
                let sketch = detector.sketch(title, &edited);
                assert!(
                    detector.compare(&original, &sketch).is_some(),
                    "{kind} of {title}: {edited}"
                );
            }
        }
    }
}

#[test]
fn a_re_post_under_another_title_is_recognised() {
    let detector = Detector::default();
    let original = detector.sketch(NOISE_TITLE, NOISE);
    let retitled = detector.sketch("反映仙华街道东门路口工地半夜打桩问题", NOISE);
    assert!(detector.compare(&original, &retitled).is_some());
}

#[test]
fn different_matters_are_kept_apart() {
    let detector = Detector::default();
    let sketches: Vec<_> = MATTERS.iter().map(|(t, b)| detector.sketch(t, b)).collect();
    for (i, a) in sketches.iter().enumerate() {
        for (j, b) in sketches.iter().enumerate().skip(i + 1) {
            assert_eq!(
                detector.compare(a, b),
                None,
                "{} / {}: {:?}",
                MATTERS[i].0,
                MATTERS[j].0,
                a.fingerprint.similarity(&b.fingerprint)
            );
        }
    }
}

const ALICE: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
const BOB: &str = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752";
const PUJIANG: &str = "330726";

fn facts(petitioner: &str, time: i64) -> Facts {
    Facts {
        petitioner: PetitionerKey::of(petitioner),
        division: Division::of(PUJIANG),
        time,
    }
}

fn index() -> Index {
    let mut index = Index::new(Detector::default(), Policy::default());
    // Other matters in the index, so every lookup has company.
    for (n, (title, body)) in MATTERS.iter().enumerate().skip(1) {
        index.submit(title, body, facts(&format!("other-{n}"), 0));
    }
    index
}

#[test]
fn the_index_decides_repeats_clusters_and_new_matters() {
    let mut index = index();
    let (first, decision) = index.submit(NOISE_TITLE, NOISE, facts(ALICE, DAY));
    assert_eq!(decision.outcome, Outcome::New);

    for (n, (kind, body)) in hand_edits().into_iter().enumerate() {
        let (_, decision) = index.submit(NOISE_TITLE, &body, facts(ALICE, DAY + n as i64));
        assert_eq!(
            decision.outcome,
            Outcome::Repeat { original: first },
            "{kind}"
        );
        let evidence = decision.evidence.expect("evidence");
        assert!(
            evidence.similarity.shared_shingles > 20,
            "{kind}: {evidence:?}"
        );
    }

    let (bob_first, decision) = index.submit(NOISE_TITLE, NOISE, facts(BOB, 2 * DAY));
    assert_eq!(decision.outcome, Outcome::ClusterMember { lead: first });

    let (_, decision) = index.submit(NOISE_TITLE, NOISE, facts("", 2 * DAY));
    assert_eq!(
        decision.outcome,
        Outcome::ClusterMember { lead: first },
        "anonymous: never a repeat"
    );
    let (_, decision) = index.submit(NOISE_TITLE, NOISE, facts("", 2 * DAY));
    assert_eq!(decision.outcome, Outcome::ClusterMember { lead: first });

    index.close(first);
    let (again, decision) = index.submit(NOISE_TITLE, NOISE, facts(ALICE, 20 * DAY));
    assert_eq!(
        decision.outcome,
        Outcome::RepeatAfterClosure { original: first }
    );
    // The re-examination is a case of its own: the next re-post repeats it.
    let (_, decision) = index.submit(NOISE_TITLE, NOISE, facts(ALICE, 21 * DAY));
    assert_eq!(decision.outcome, Outcome::Repeat { original: again });
    // Bob's own closed petition comes before Alice's open one: his is re-examined too.
    let (_, decision) = index.submit(NOISE_TITLE, NOISE, facts(BOB, 22 * DAY));
    assert_eq!(
        decision.outcome,
        Outcome::RepeatAfterClosure {
            original: bob_first
        }
    );
    // Someone new joins the earliest open matter, no longer the closed one.
    let (_, decision) = index.submit(NOISE_TITLE, NOISE, facts("carol", 23 * DAY));
    assert_eq!(decision.outcome, Outcome::ClusterMember { lead: again });
}

#[test]
fn a_petitioner_is_found_in_a_matter_hundreds_re_post() {
    let mut index = index();
    let (lead, _) = index.submit(NOISE_TITLE, NOISE, facts("resident-0", 0));
    let mut bob_first = None;
    for n in 1..300 {
        let petitioner = if n == 3 {
            BOB.to_owned()
        } else {
            format!("resident-{n}")
        };
        let (id, decision) = index.submit(NOISE_TITLE, NOISE, facts(&petitioner, n));
        assert_eq!(decision.outcome, Outcome::ClusterMember { lead });
        if n == 3 {
            bob_first = Some(id);
        }
    }
    // Bob's first petition has long left every band bucket; the petitioner link still finds it.
    let (_, decision) = index.submit(NOISE_TITLE, NOISE, facts(BOB, 400));
    assert_eq!(
        decision.outcome,
        Outcome::Repeat {
            original: bob_first.unwrap()
        }
    );
    assert_eq!(decision.lead, Some(lead));
}

#[test]
fn place_and_time_keep_alike_texts_apart() {
    let mut index = index();
    let (_, decision) = index.submit(NOISE_TITLE, NOISE, facts(ALICE, 0));
    assert_eq!(decision.outcome, Outcome::New);
    let elsewhere = Facts {
        division: Division::of("330782"),
        ..facts(BOB, DAY)
    };
    assert_eq!(
        index.submit(NOISE_TITLE, NOISE, elsewhere).1.outcome,
        Outcome::New
    );
    let much_later = facts("resident", 90 * DAY);
    assert_eq!(
        index.submit(NOISE_TITLE, NOISE, much_later).1.outcome,
        Outcome::New
    );
}

#[test]
fn an_index_of_distinct_matters_stays_under_300_bytes_a_document() {
    let detector = Detector::default();
    let mut index: Index = Index::new(detector, Policy::default());
    let mut rng = StdRng::seed_from_u64(5);
    let template = detector.sketch(NOISE_TITLE, NOISE);
    for n in 0..50_000 {
        // Every band key its own: every document a matter of its own, the index's worst case
        // (sketching 50,000 real texts would only slow the test down).
        let mut sketch = template.clone();
        for band in &mut sketch.bands {
            band.digest = rng.random();
        }
        index.insert(&sketch, facts(&format!("p{n}"), n), &Decision::new_matter());
    }
    let per_doc = index.index_bytes() / index.len();
    assert!((150..300).contains(&per_doc), "{per_doc} bytes a document");
}

#[test]
fn corpus_evaluation_scores_edits_and_spares_one_matter_told_twice() {
    let mut messages: Vec<Message> = MATTERS.iter().map(|(t, b)| Message::new(*t, *b)).collect();
    // An exact duplicate under another title, and a second telling of the noise matter that
    // copies most of it: one matter, so neither a negative nor scored.
    messages.push(Message::new("工地半夜打桩", NOISE));
    messages.push(Message::new(NOISE_TITLE, hand_edits()[3].1.clone()));
    let report = eval_corpus(&Detector::default(), &messages);
    let text = report.to_string();
    let last = text.lines().last().unwrap();
    assert!(last.starts_with("precision=1.0000 recall="), "{text}");
    assert!(
        last.ends_with(&format!("pairs={}", report.pairs())),
        "{text}"
    );
    let exact = report
        .rows
        .iter()
        .find(|r| r.kind == "exact-duplicate")
        .unwrap();
    assert_eq!((exact.pairs, exact.linked), (1, 1));
    for kind in EditKind::ALL {
        let row = report.rows.iter().find(|r| r.kind == kind.name()).unwrap();
        assert_eq!(row.pairs, messages.len(), "{kind}");
    }
    assert_eq!(report.false_positives(), 0, "{text}");
    assert!(report.negatives() > 0);
    assert!(text.contains("not scored: 2 pairs"), "{text}");
    assert!(report.recall() >= 0.95, "{text}");
}

#[test]
fn pair_evaluation_counts_both_kinds_of_error() {
    let noise = Message::new(NOISE_TITLE, NOISE);
    let pairs = vec![
        LabelledPair {
            a: noise.clone(),
            b: Message::new(NOISE_TITLE, hand_edits()[4].1.clone()),
            same: true,
        },
        LabelledPair {
            a: noise.clone(),
            b: Message::new(MATTERS[1].0, MATTERS[1].1),
            same: true,
        },
        LabelledPair {
            a: noise.clone(),
            b: noise.clone(),
            same: false,
        },
        LabelledPair {
            a: noise,
            b: Message::new(MATTERS[5].0, MATTERS[5].1),
            same: false,
        },
    ];
    let report = eval_pairs(&Detector::default(), &pairs);
    assert_eq!(report.true_positives(), 1);
    assert_eq!(report.false_negatives(), 1);
    assert_eq!(report.false_positives(), 1);
    assert_eq!(
        report.to_string().lines().last().unwrap(),
        "precision=0.5000 recall=0.5000 pairs=4"
    );
}
