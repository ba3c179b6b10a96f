//! Real-length petitions for load tests: bodies of 100 to 2,000 Chinese characters, built
//! from sentences written for this purpose, so a benchmark needs no data file.

use minhu_contracts::v1::{Location, Petition, Petitioner};

const SENTENCES: &[&str] = &[
    "我是黄宅镇某村村民，村口道路年久失修，雨天积水严重，群众出行十分不便。",
    "小区物业长期不作为，电梯多次故障无人维修，老人上下楼非常困难。",
    "附近工厂夜间排放废气，气味刺鼻，周边居民反映强烈，希望环保部门尽快查处。",
    "公司已拖欠我们三个月工资，多次讨要无果，恳请劳动部门帮助维权。",
    "学校周边交通秩序混乱，上下学高峰时段车辆乱停乱放，存在安全隐患。",
    "菜市场部分商户缺斤短两，价格标示不清，消费者权益得不到保障。",
    "社区卫生服务中心看病排队时间太长，医生数量不足，希望增加门诊力量。",
    "夜间施工噪音扰民，已持续一个多月，严重影响周边居民正常休息。",
    "村里自来水水压不足，高层住户经常停水，生活用水得不到保障。",
    "希望有关部门加强监管，依法处理，并将处理结果及时反馈给我们。",
];

/// Petition number `n`: `chars` Chinese characters, a tail no other petition shares (so none is
/// merged into another and every one is dispatched) and then a deterministic mix of sentences.
/// Built in one pass: the load generator shares the machine with what it measures.
pub(crate) fn petition(channel_message_id: String, n: u64, chars: usize) -> Petition {
    let mut body = String::with_capacity(chars * 3);
    let mut x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let tail = chars * 2 / 3;
    for _ in 0..tail {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        body.push(char::from_u32(0x4E00 + (x % 0x51A0) as u32).expect("CJK"));
    }
    let mut count = tail;
    let mut i = n as usize;
    while count < chars {
        for c in SENTENCES[i % SENTENCES.len()].chars().take(chars - count) {
            body.push(c);
            count += 1;
        }
        i = i.wrapping_mul(7).wrapping_add(3);
    }
    let title_end = body.char_indices().nth(20).map_or(body.len(), |(at, _)| at);
    Petition {
        channel_message_id,
        title: body[..title_end].to_owned(),
        body,
        petitioner: Some(Petitioner {
            phone: format!("139{:08}", n % 100_000_000),
            ..Default::default()
        }),
        location: Some(Location {
            division_code: "330726101".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Body lengths spread over 100..=2,000 characters, the same sequence in every run.
pub(crate) fn body_chars(n: u64) -> usize {
    100 + (n.wrapping_mul(2_654_435_761) % 1_901) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn petitions_have_the_asked_length_and_distinct_petitioners() {
        let p = petition("x".into(), 3, 1500);
        assert_eq!(p.body.chars().count(), 1500);
        assert_ne!(
            petition("a".into(), 1, 100).petitioner,
            petition("b".into(), 2, 100).petitioner
        );
        assert!((0..1000).map(body_chars).all(|c| (100..=2000).contains(&c)));
    }
}
