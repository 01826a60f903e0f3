"""Text banks for the sample corpus: sentence templates, headlines, names and site chrome.

All text in this module was written for this project. Templates use two kinds of markup:

* ``{slot}``  -- filled from the article context (city, person, company...) or from freshly drawn numbers;
* ``[a|b|c]`` -- one alternative is chosen at random each time the template is used (an empty
  alternative is allowed).  Alternatives keep two articles that use the same template from sharing
  long word n-grams, so distinct articles stay far apart under MinHash/5-gram Jaccard.

Blank lines and lines starting with ``#`` inside the blocks are ignored.
"""

from __future__ import annotations


def _lines(block: str) -> list[str]:
    out = []
    for line in block.strip().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            out.append(line)
    return out


# ---------------------------------------------------------------------------------------------
# English
# ---------------------------------------------------------------------------------------------

EN_CITIES = [
    "Millbrook", "Harborview", "Ashford Falls", "Cedar Ridge", "Port Elwin", "Lakemont", "Brookhaven",
    "Westfield", "Oakdale", "Granite Bay", "Riverton", "Kingsbridge", "Fairhaven", "Summerton", "Northvale",
    "Elm Crossing", "Stonebury", "Marlow Heights",
]
EN_FIRST = [
    "Sarah", "Michael", "Emma", "James", "Olivia", "Daniel", "Grace", "Thomas", "Laura", "David", "Hannah",
    "Robert", "Megan", "Andrew", "Rachel", "Peter", "Julia", "Mark", "Alice", "Samuel", "Karen", "Steven",
    "Nina", "Paul", "Priya", "Omar", "Chloe", "Victor",
]
EN_LAST = [
    "Thompson", "Patel", "Nguyen", "Garcia", "O'Connor", "Walker", "Kim", "Johnson", "Fischer", "Robinson",
    "Hughes", "Bennett", "Okafor", "Lopez", "Clarke", "Murphy", "Singh", "Baker", "Sullivan", "Brooks",
    "Reyes", "Turner", "Hayes", "Ward", "Castillo", "Ferguson",
]
EN_STREETS = [
    "Maple Avenue", "Station Road", "Church Street", "Mill Lane", "Harbor Drive", "Queen Street",
    "Elm Street", "Park Road", "Victoria Street", "Bridge Street", "Orchard Way", "High Street",
]
EN_COMPANIES = [
    "Northwind Analytics", "Bluepeak Systems", "Greenleaf Foods", "Ironbridge Logistics", "Solara Energy",
    "Brightpath Health", "Copperline Software", "Meridian Retail", "Tidewater Motors", "Silverline Media",
]
EN_TEAM_NICKS = ["Rovers", "Falcons", "United", "Mariners", "Hawks", "Wanderers", "Athletic", "Lions"]
EN_WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
EN_MONTHS = [
    "January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
    "November", "December",
]

EN_TOPICS = {
    "local": {
        "headlines": _lines("""
            {city} council approves {n}-year plan to repair ageing roads
            Residents of {city} push back against proposed parking fees
            New library branch opens its doors on {street}
            {city} schools face teacher shortage as enrollment climbs
            Flood defences in {city} to be upgraded after winter storms
            Volunteers clean up {street} ahead of the spring festival
            {city} to add new bus routes after years of complaints
        """),
        "sentences": _lines("""
            The {city} city council voted {n} to 2 on {weekday} night to approve a plan that would spend {money} on [road repairs|fixing local roads] over the next five years.
            Members of the public [packed|filled] the chamber for more than three hours, and many of them asked [questions|hard questions] about how the work would be paid for.
            {person}, who has lived on {street} for almost {n2} years, said the potholes near the family home had become [dangerous|a real danger] for cyclists.
            According to a report published by the city in {month}, about {pct} percent of local streets are now rated as [poor or very poor|being in poor condition].
            The plan also includes new [crossings|pedestrian crossings] near two primary schools, which parents have been [requesting|asking for] since {year}.
            [Officials said|City officials said|The council said] the first phase of construction [is expected to|should] begin in the spring and [should be finished|will be completed] before the end of the year.
            Not everyone is convinced that the money will be [spent wisely|well spent].
            "We have heard these promises before, and we are still waiting for the bus shelters that were announced [three|four] years ago," said {person2}, [a local shop owner|who runs a hardware store nearby].
            The council has set up a website where residents can report problems and [follow the progress|keep track] of each project.
            Mayor {surname} told reporters after the meeting that the city [could not afford|simply could not afford] to keep postponing the repairs.
            A public consultation on the new parking rules will remain open until the end of {month}, and the results will be presented at the next [meeting|council meeting].
            The new branch library on {street} has a children's reading room, a small recording studio and more than {big} books on its shelves.
            Staff at the library said that [over|more than] {n2} people signed up for membership cards on the first morning alone.
            Local businesses have welcomed the decision, saying that more visitors in the town centre will help them [recover from|get through] a difficult year.
            The school district expects to hire at least {n2} new teachers before the autumn term, but recruiting has been [slow|slower than hoped].
            Emergency crews spent most of the night pumping water out of [basements|flooded basements] after the river rose by almost {n} feet in a few hours.
            Engineers from the county will inspect the flood walls [next month|in {month}] and decide which sections need to be rebuilt first.
            The spring festival, which returns to {city} on the first weekend of {month}, is expected to attract several thousand visitors.
            Drivers who park in the town centre could soon pay up to {money_small} a week under the [new|proposed] rules.
            The new bus routes will connect the [northern|eastern] suburbs with the hospital and the railway station for the first time.
            Some parents said their children [currently|now] spend almost an hour on the bus each way to reach school.
            Council staff will [hold|run] a series of drop-in sessions at the community centre so that residents can look at the maps and ask questions.
            The county has promised to cover part of the cost, but the exact amount will not be known until [the autumn|later this year].
            Traffic on {street} is expected to be reduced to a single lane for about {n} weeks while the work is carried out.
            Residents who live near the site will receive a letter explaining [the timetable|what to expect] and who to contact with complaints.
            Older residents said the changes would make it easier for them to reach the shops and the health centre without a car.
            The council's transport committee will meet again in {month} to look at [the detailed designs|the final route].
            A petition against the parking charges has already collected more than {big} signatures, according to its organizers.
            Teachers said that class sizes have grown steadily, and some lessons are now being taught in temporary classrooms.
            Several streets near the river were closed on {weekday} morning, and a temporary shelter was opened at the sports hall.
        """),
    },
    "sports": {
        "headlines": _lines("""
            {team} beat {rival} in a tense finish
            Late goal keeps {team} in the title race
            {team} coach praises young squad after difficult season
            Marathon returns to the streets of {city} with record entry
            {team} sign experienced defender on a two-year deal
            {team} fans pack the stadium for derby against {rival}
        """),
        "sentences": _lines("""
            {team} claimed a {score} victory over {rival} on {weekday} night in front of a crowd of {big} [supporters|fans].
            The home side started brightly and took the lead in the {minute_ord} minute when {person} finished [a quick counterattack|a well-worked move].
            {rival} responded well after the break and had several chances to equalize, but the goalkeeper made [three|two] fine saves.
            "It was not our best performance, but the players showed great character when it mattered," the head coach said after the match.
            The win moves {team} up to {place} place in the table, just {n} points behind the leaders.
            {person} has now scored {m} goals in all competitions this season, [the best record|more than any other player] in the league.
            Injuries have been a problem for [much|most] of the season, and the club is still without two of its regular starters.
            Tickets for the next home game go on sale on {weekday} morning, and the club expects another [large|big] crowd.
            More than {big} runners have registered for this year's {city} marathon, which is a new record for the event.
            The course has been changed slightly so that runners will pass the old harbour and finish in front of the town hall.
            Road closures will be in place from early morning, and organizers have asked residents to [plan their journeys in advance|avoid the city centre if possible].
            The new defender, who spent the last [four|five] seasons playing abroad, is expected to make his debut next week.
            Supporters were generally pleased with the signing, although some said the club should have acted [sooner|earlier in the summer].
            The youth academy has produced {n} first-team players in the last three years, which the coach described as a [great|remarkable] achievement.
            Both teams will meet again in the cup later this month, and the match is already [sold out|close to being sold out].
            The club's finances have improved since the new owners arrived, with ticket sales up by {pct} percent compared with last year.
            [Rain|Heavy rain] made the pitch difficult, and both sides struggled to keep the ball on the ground.
            The referee showed {n} yellow cards in a [physical|bad-tempered] second half.
            {surname} was substituted with about ten minutes left and received a standing ovation from the home crowd.
            The winner of the women's race set a new course record, finishing almost two minutes ahead of the [rest of the field|nearest rival].
            Local volunteers will staff {m} water stations along the route and hand out medals at the finish line.
            The coach admitted that the team [still has a lot to learn|is still learning], but said the progress since the start of the season was clear.
            {team} have not lost at home since {month}, a run that now stretches to {m} matches.
            The visitors had the better of the opening half hour, but they could not turn their possession into [clear chances|goals].
            A crowd of around {big} people lined the route, many of them cheering for friends and family members.
            The club confirmed that {surname} had signed a new contract for another three seasons.
            Ticket prices will stay the same next season, the club announced, after supporters complained about rising costs.
            The captain said the dressing room was [disappointed|frustrated] by the draw but confident about the rest of the season.
            Local schools have been invited to take part in a free training session at the stadium during the holidays.
            The marathon raised more than {money} for local charities, according to the organizers.
        """),
    },
    "tech": {
        "headlines": _lines("""
            {company} unveils new app to help small businesses manage orders
            How {city} start-ups are using artificial intelligence
            Data breach at {company} exposes customer email addresses
            {company} to open new engineering office in {city}
            Review: a budget laptop that gets the basics right
            Why your old phone might be slowing down, and what to do about it
        """),
        "sentences": _lines("""
            {company} said on {weekday} that its new software would be available to customers in {n} countries by the end of the year.
            The company, which was founded in {city} in {year}, now employs about {staff} people.
            Its chief executive, {person}, said the product had been designed [with the help of|together with] hundreds of small shop owners.
            Early reviews have been mostly positive, although some users complained that the app [drains the battery too quickly|is slow on older phones].
            Security researchers discovered the problem last month and reported it to the company before making it public.
            The company said that no passwords or payment details had been stolen, but it advised customers to be [careful with|wary of] unexpected emails.
            Analysts say the market for this kind of software has grown by roughly {pct} percent over the past two years.
            Several local start-ups are now using machine learning to sort waste, predict demand and answer customer questions.
            "The tools have become much cheaper, so even a team of five people can build something useful," said {person2}, a software engineer.
            The new office is expected to create around {n2} jobs, most of them for software developers and data analysts.
            The laptop has a bright screen, a comfortable keyboard and a battery that lasted almost {m} hours in our tests.
            However, the speakers are weak and the plastic case feels cheaper than the price would suggest.
            If your phone has become slow, the first thing to check is how much free storage space is left.
            Deleting old videos and apps that you no longer use can make a [noticeable|real] difference within a few minutes.
            Experts also recommend installing updates regularly, because they often fix security problems as well as [bugs|minor bugs].
            The company plans to release a version for larger businesses next year, but it has not said how much it will cost.
            Customers who are worried about their accounts can [change their passwords|reset their passwords] from the settings page at any time.
            The app lets shop owners [track orders|keep track of orders], send invoices and see which products are selling well, all from one screen.
            Investors put {money} into the company last year, and it has since doubled the size of its engineering team.
            For most people who need a computer for email, browsing and writing, the cheaper model will be [more than enough|perfectly adequate].
            The start-up is working with the local university to train students in data science and software design.
            Regulators have asked the company to explain [why it took|how it took] almost three weeks to inform the affected customers.
            The update, which is free for existing customers, also fixes a problem that caused the app to crash on some older phones.
            According to the company, more than {big} shops signed up for the service in the first month.
            Privacy campaigners have questioned how much personal data the app collects and how long it is kept.
            The engineers in {city} will work on the company's payment system and on tools for [online shops|small retailers].
            Battery life remains a weak point, and heavy users will probably need to charge the phone [before the evening|twice a day].
            The company said it had hired an outside security firm to investigate [the incident|the breach] and review its systems.
            Prices start at {money_small} a month for the basic version, with a free trial for new customers.
            {person2}, who runs a small bookshop, said the software had [saved the business several hours a week|made stock-taking much easier].
        """),
    },
    "science": {
        "headlines": _lines("""
            Researchers at {uni} find new clues about how bees navigate
            Study links regular walking to better sleep in older adults
            Rare bird spotted near {city} for the first time in decades
            Hospital in {city} trials shorter waiting times for emergency patients
            Scientists map the coastline to track rising sea levels
            What the latest research says about drinking coffee
        """),
        "sentences": _lines("""
            The study, published this week in a leading journal, followed more than {big} adults for a period of {n} years.
            Researchers found that people who walked for at least thirty minutes a day were {pct} percent less likely to report [poor sleep|sleeping badly].
            "We were surprised by how strong the effect was, even after we took age and income into account," said {person}, who led the research.
            The team at {uni} used tiny radio tags to follow the bees as they flew between their hive and [nearby fields|the surrounding fields].
            Their results suggest that the insects remember landmarks such as trees and buildings, not just the position of the sun.
            Other scientists cautioned that the findings are based on a relatively small sample and [need to be repeated|should be confirmed by further work].
            Bird watchers from across the region travelled to the wetlands near {city} after the sighting was reported on {weekday}.
            The species normally spends the winter in southern Europe and is very rarely seen this far north.
            The hospital has introduced a new system in which nurses assess every patient within fifteen minutes of arrival.
            Early figures show that the average waiting time has fallen from {n} hours to just under two hours.
            Doctors say the change has also reduced stress for staff, although the department remains very busy at weekends.
            Using drones and satellite images, the scientists measured how much the shoreline had moved since {year}.
            In some places the coast has retreated by more than {n2} metres, putting roads and houses at risk.
            Most studies suggest that moderate coffee drinking is safe for healthy adults and may even have some benefits.
            However, experts advise pregnant women and people with certain heart conditions to limit how much caffeine they consume.
            The researchers hope to secure funding for a larger study that will include participants from several countries.
            Volunteers kept a simple diary of their sleep and wore a small device on the wrist [at night|every night].
            The findings could help farmers protect bees from pesticides by [showing|revealing] which routes the insects use most often.
            Local conservation groups have asked visitors to keep their distance and to stay on the marked paths.
            The data will be shared with the regional council, which is preparing a new plan for [coastal protection|protecting the coast].
            [Patients|Many patients] said they felt better informed, because staff now explain how long they are likely to wait.
            The research was funded by a national science foundation and took almost {n} years to complete.
            The participants were aged between sixty and eighty, and most of them lived in cities.
            Scientists said the results were [encouraging|promising], but they stressed that walking is not a cure for serious sleep disorders.
            Photographs of the bird were shared widely on social media within hours of the first sighting.
            The hospital plans to extend the system to its children's department [later this year|in the autumn].
            Sea levels in the region have risen by about {m} centimetres over the past three decades, according to official measurements.
            The team will return to the fields in the spring to see whether young bees learn the same routes as older ones.
            Some earlier studies had suggested the opposite effect, which is why the new findings attracted so much attention.
            Doctors recommend that adults who struggle to sleep avoid screens and heavy meals late in the evening.
        """),
    },
    "business": {
        "headlines": _lines("""
            {company} reports higher profits despite rising costs
            Small shops in {city} struggle with higher energy bills
            Housing prices in {city} rise for the third month in a row
            {company} to cut {n2} jobs as demand slows
            Farmers market celebrates ten years in {city}
            Interest rates: what the latest decision means for borrowers
        """),
        "sentences": _lines("""
            {company} said its profit rose by {pct} percent in the last three months of the year, helped by strong sales [abroad|overseas].
            Revenue reached {money}, slightly above what most analysts had expected.
            The company warned, however, that higher prices for energy and raw materials would continue to put pressure on its margins.
            Shares in the company rose by almost {n} percent in early trading after the results were published.
            Many small shop owners in {city} say their electricity bills have [doubled|almost doubled] since last winter.
            "We have cut our opening hours and turned off the heating in the back rooms, but it is still not enough," said {person}, who runs a bakery on {street}.
            The average price of a home in {city} is now about {price}, according to figures from a local estate agent.
            First-time buyers have been hit hardest, because many of them need a large deposit before they can get a mortgage.
            The company plans to close its warehouse on the edge of town and move some of the work to a larger site in the north.
            Union representatives said they would meet with management [next week|in the coming days] to discuss the job cuts.
            The farmers market started with just {m} stalls and now has more than {n2} regular traders selling fruit, cheese, bread and flowers.
            Organizers say the market brings thousands of visitors into the town centre every Saturday, which also helps nearby cafes and shops.
            The central bank raised its main interest rate by a quarter of a percentage point on {weekday}, the {ord} increase this year.
            For a typical family with a mortgage, the change could add about {money_small} to their monthly payments.
            Economists expect inflation to slow gradually over the coming months, but they disagree about how quickly.
            Some business owners said they would wait until the summer before deciding whether to hire more staff.
            Rents for small shops in the town centre have [fallen|dropped] slightly, which has encouraged a few new businesses to open.
            The chamber of commerce has asked the government for [temporary help|short-term support] with energy costs for small firms.
            Sales of new homes were {pct} percent lower than a year earlier, according to the latest official figures.
            Savers, on the other hand, may finally see better returns on the money they keep in the bank.
            The company said it would offer retraining to staff who want to move to other roles within the business.
            Several traders at the market said that [online orders|orders through social media] now make up a growing share of their income.
            The company employs about {staff} people at its headquarters in {city} and [several thousand|many more] worldwide.
            Several restaurants on {street} have raised their prices by around {pct} percent to cope with higher costs.
            Estate agents say that homes near the new railway station are selling particularly quickly.
            The job cuts will mainly affect office staff, while production at the factory is expected to continue as normal.
            Stallholders pay a small weekly fee, and the money is used to cover cleaning, insurance and advertising.
            Mortgage lenders are expected to pass on the increase to customers within the next few weeks.
            According to the survey, almost half of small business owners expect the next twelve months to be [difficult|harder than last year].
            {person2}, an economist at {uni}, said the figures suggested that consumers were becoming more careful with their money.
        """),
    },
    "culture": {
        "headlines": _lines("""
            Museum in {city} reopens after two-year renovation
            A weekend in {city}: where to eat, walk and stay
            Local choir celebrates its anniversary with a free concert
            Film festival in {city} announces this year's programme
            Community theatre brings a classic comedy to {street}
        """),
        "sentences": _lines("""
            The museum reopened on {weekday} with a new glass roof, a larger cafe and galleries that are easier to reach for visitors in wheelchairs.
            Its collection includes more than {big} objects, from Roman coins to paintings by [local artists|artists from the region].
            Entry to the permanent exhibition will remain free, although visitors will have to pay for special shows.
            The old town is small enough to explore on foot, and most of the main sights are within a short walk of the station.
            For lunch, try one of the small restaurants near the harbour, where fresh fish is served every day.
            If the weather is good, the walk along the cliffs to the lighthouse takes about two hours and offers [wonderful|beautiful] views.
            The choir was founded by a group of teachers in {year_old} and now has about {n2} members of all ages.
            Rehearsals take place every {weekday} evening in the hall behind the church, and new singers are always welcome.
            This year's film festival will show {n2} films from {m} countries, including several that were made by local students.
            Tickets are available online and at the box office, and there will be free outdoor screenings in the park on two evenings.
            The director of the festival, {person}, said the team wanted to bring more young people [to the cinema|back to the cinema].
            Many of the events sold out within hours, so visitors are advised to book early.
            The production uses a cast of {m} local actors, the youngest of whom is just twelve years old.
            Curators spent months [cleaning|carefully restoring] the old paintings before they could be hung again.
            A small guest house in the old town offers simple rooms and a generous breakfast at a reasonable price.
            The concert will include songs from the choir's first recordings as well as several new pieces written for the anniversary.
            Visitors who arrive by train can rent bicycles at the station for a small fee.
            [Volunteers|A team of volunteers] built the stage and painted the scenery over several weekends.
            The festival will close with an open-air concert in the main square on the last {weekday} of {month}.
            Local historians will lead free guided tours of the new galleries on the first Sunday of every month.
            The renovation cost {money}, most of which was paid for by a national heritage fund.
            Children can take part in free drawing workshops in the museum's new education room every {weekday} afternoon.
            The best time to visit is early in the morning, before the day trippers arrive.
            The old market hall has been turned into a food court with stalls selling dishes from around the world.
            Members say the choir is as much about friendship as it is about music.
            Several of the films deal with life in small towns and the changes they have seen over the past twenty years.
            The theatre group performs in a converted warehouse that seats just over a hundred people.
            Reviews from the first night were warm, with many people praising the young lead actor.
        """),
    },
}

EN_GENERAL = _lines("""
    More details are expected to be announced in the coming weeks.
    The decision was welcomed by most of the people we spoke to on {weekday}.
    It is not yet clear how long the [process|whole process] will take.
    A spokesperson said the organization would continue to listen to feedback from the public.
    Similar projects have been tried in other parts of the country with mixed results.
    Critics argue that the plan does not go far enough, while supporters say it is a sensible first step.
    The situation will be reviewed again at the end of {month}.
    Anyone with questions can contact the information office, which is open on weekdays from nine in the morning until five in the afternoon.
    For many families, the changes will make a real difference to their daily lives.
    "This is something we have been working towards for a long time," said {person2}.
    Figures released last week show that the number of people affected has grown steadily since {year}.
    Both sides say they are willing to keep talking, but no date has been set for the next meeting.
    The weather may also play a part, as forecasters expect heavy rain later in the week.
    Those who attended the event described the atmosphere as friendly and relaxed.
    Local newspapers first reported the story in {month}, and it has attracted a lot of attention online since then.
    There are still many unanswered questions, and the full picture may not be clear for some time.
    Officials have promised to publish a full report once the work is complete.
    Some residents said they had not heard about the plans until they read about them in the newspaper.
    Public meetings on the issue have been well attended, with many people staying until late in the evening.
    The next update is expected after the summer break.
    The proposals will now be discussed by a committee before a final vote later in the year.
    Several people who did not want to be named said they were worried about the cost.
    In a statement, the organization said it was proud of what had been achieved so far.
    The full report is available on the council's website.
    Opinions in the community remain divided.
    Some of the details are still being worked out, and changes are possible.
    It is the first time in more than a decade that such a plan has been put forward.
    Reporters were not allowed to attend the private part of the meeting.
    A similar scheme in a neighbouring town was abandoned after two years because of low demand.
    Further information will be published on the website as soon as it is available.
""")

EN_BOILERPLATE = [
    "Sign up for our free morning newsletter to get the most important local stories delivered to your inbox "
    "every weekday. You can unsubscribe at any time.",
    "This article is for general information only and does not constitute financial, legal or medical advice. "
    "Readers should consult a qualified professional before making any decisions.",
    "Our reporting team covers local government, schools, business and sport across the region. Story tips and "
    "corrections can be sent to the newsroom by email.",
]

# ---------------------------------------------------------------------------------------------
# Chinese (simplified)
# ---------------------------------------------------------------------------------------------

ZH_CITIES = ["杭州", "成都", "武汉", "西安", "南京", "苏州", "长沙", "青岛", "厦门", "合肥", "昆明", "郑州", "宁波", "大连", "济南"]
ZH_DISTRICTS = ["西湖区", "高新区", "滨江区", "经开区", "城东新区", "老城区", "江北新区", "开发区", "南湖片区"]
ZH_SURNAMES = ["张", "王", "李", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "马", "胡", "郭"]
ZH_GIVEN = ["建华", "晓明", "丽娟", "志强", "海燕", "文博", "雪梅", "国庆", "春生", "子涵", "俊杰", "静怡", "浩然", "秀英", "立新"]
ZH_COMPANIES = ["云帆科技", "星河电子", "华联物流", "青禾食品", "远航新能源", "百川医疗", "启明软件", "天衡智能"]
ZH_TEAM_NICKS = ["雄狮", "海港", "猎豹", "凤凰", "飞虎", "蛟龙"]
ZH_WEEKDAYS = ["周一", "周二", "周三", "周四", "周五", "周六", "周日"]

ZH_TOPICS = {
    "local": {
        "headlines": _lines("""
            {city}老旧小区改造工程全面启动
            {city}新增{n}条公交线路 方便市民出行
            {city}市图书馆新馆正式开放
            {city}出台新规整治占道停车
            汛期将至 {city}加紧排查城市内涝隐患
            {district}社区食堂开业 老人吃饭更方便
        """),
        "sentences": _lines("""
            记者从{city}市住房和城乡建设局[获悉|了解到]，今年全市计划改造老旧小区{n2}个，涉及居民{big}户。
            改造内容主要包括更换老化管网、加装电梯、修缮屋顶，以及[增加|新建]停车位和充电桩。
            “以前一下雨楼道里就漏水，现在终于有人管了。”家住{district}的居民{person}[高兴地说|笑着告诉记者]。
            [据介绍|据了解]，新开通的公交线路将覆盖城市东部的{n}个新建住宅区，早晚高峰发车间隔不超过十分钟。
            新馆总建筑面积约{m}万平方米，可容纳藏书{n2}万册，设有少儿阅览区、自习室和数字体验区。
            开馆首日，不少市民一早就在门口排起了长队，馆内座位[很快|不到一个小时]就坐满了。
            根据新规，在人行道、消防通道等区域违规停车的，将被处以罚款，情节严重的还将记入信用档案。
            有关部门负责人表示，整治工作将坚持疏堵结合，同时在学校、医院周边新增临时停车泊位{hundreds}个。
            目前，全市已排查出易积水点位{n2}处，其中{n}处已[完成改造|基本完成整改]。
            气象部门预计，今年汛期降雨量将比常年偏多，[提醒市民|请广大市民]出行时注意安全。
            社区食堂每天提供早、中、晚三餐，{age}岁以上老人就餐可以享受八折优惠。
            不少居民表示，这些变化虽然不大，但实实在在地提升了[生活质量|大家的幸福感]。
            下一步，{city}还将在{district}试点推行垃圾分类积分奖励制度。
            工作人员提醒，施工期间部分道路将实行临时交通管制，请市民提前规划出行路线。
            为了方便老年人办事，街道便民服务中心还专门开设了“爱心窗口”，由工作人员全程帮办。
            {person2}是一名社区志愿者，每天早上都会到小区门口帮助维持秩序。
            据悉，此次改造工程预计总投资{money}，将于年底前全部完工。
            在{district}的一个老旧小区，施工人员正在对外墙进行保温处理，现场秩序井然。
            新线路开通后，从{district}到火车站的时间将缩短约{m}分钟。
            图书馆还推出了“线上借阅、快递到家”服务，读者足不出户就能借到想看的书。
            一些居民反映，小区周边停车难的问题由来已久，希望这次能够得到彻底解决。
            为了应对强降雨天气，全市已储备抽水泵、沙袋等防汛物资{hundreds}余套。
            社区还组织志愿者为行动不便的老人提供送餐上门服务。
            据统计，今年以来，{city}已累计办理各类民生实事{n2}件。
        """),
    },
    "sports": {
        "headlines": _lines("""
            {team}主场{score}战胜{rival}
            {city}马拉松鸣枪开跑 {big}名选手参赛
            {team}新赛季主教练人选出炉
            青少年足球联赛在{city}开幕
            {city}全民健身运动会圆满落幕
        """),
        "sentences": _lines("""
            在{weekday}晚进行的一场比赛中，{team}在主场以{score}战胜{rival}，[取得了三连胜|拿到了宝贵的三分]。
            上半场第{minute}分钟，{person}接队友传球后冷静推射破门，帮助球队取得领先。
            下半场{rival}加强了进攻，但{team}的防守[非常顽强|十分稳固]，始终没有给对手太多机会。
            赛后，主教练在新闻发布会上表示，球员们执行战术很到位，这场胜利来之不易。
            目前{team}以{n2}个积分排在联赛第{n}位，距离榜首只有{k}分的差距。
            本届马拉松共吸引了来自{m}个国家和地区的{big}名跑者参加。
            赛道途经城市多个标志性景点，沿途还设置了{m}个补给站和医疗服务点。
            最终，男子组冠军的成绩为2小时{m}分，女子组冠军则由一名本地选手获得。
            俱乐部官方宣布，新任主教练拥有丰富的执教经验，曾带领多支球队[取得好成绩|冲击联赛冠军]。
            球迷们对新教练的到来普遍表示期待，希望球队在新赛季能够更进一步。
            本届青少年联赛共有{n2}支球队参赛，参赛球员年龄均在十六岁以下。
            组委会表示，举办联赛的目的是让更多孩子爱上足球，在比赛中锻炼意志、收获友谊。
            下一轮比赛，{team}将客场挑战实力强劲的{rival}，这场比赛的门票已经全部售罄。
            运动会共设置了游泳、羽毛球、乒乓球等{m}个比赛项目，{big}多名运动员参加了比赛。
            比赛当天，现场观众热情高涨，加油声、欢呼声此起彼伏。
            为保障赛事顺利进行，{city}交警部门对沿线道路实施了临时交通管制。
            这已经是两队本赛季第三次交手，此前双方各胜一场。
            比赛吸引了{big}名球迷到场观战，现场气氛十分热烈。
            不少跑者身穿特色服装参赛，成为赛道上一道亮丽的风景线。
            据了解，新任主教练将于下周正式到队，并带领球队进行冬训。
            来自{district}的一支球队表现出色，小球员们的精彩配合赢得了阵阵掌声。
            俱乐部表示，将继续加强青训体系建设，为球队输送更多年轻人才。
            赛事期间，近{hundreds}名志愿者在各个点位为选手提供服务。
            本场比赛结束后，{team}将迎来为期两周的休整期。
        """),
    },
    "tech": {
        "headlines": _lines("""
            {company}发布新一代智能手机
            {city}人工智能产业园正式启用
            专家提醒：警惕新型网络诈骗
            {company}自动驾驶出租车在{city}开启试运营
            {city}数字经济核心产业增加值稳步增长
        """),
        "sentences": _lines("""
            {month}月{day}日，{company}在{city}举行新品发布会，正式推出了新一代智能手机。
            新机搭载自主研发的芯片，续航能力比上一代产品[提升了约|提高了]{pct}%。
            该公司负责人{person}介绍，研发团队用了将近{n}年时间，攻克了多项关键技术难题。
            产业园总投资约{money}，目前已有{n2}家企业签约入驻，涉及大模型、智能制造等多个领域。
            业内人士认为，人工智能正在从实验室走向千行百业，[应用场景越来越丰富|落地速度明显加快]。
            [近期|最近一段时间]，一些不法分子冒充客服人员，以退款、理赔等名义诱骗[市民|群众]转账。
            警方提醒，凡是要求提供银行卡密码或[验证码|短信验证码]的，都是诈骗，请大家[务必|一定要]提高警惕。
            一旦发现被骗，应[立即|第一时间]拨打报警电话，并尽量保存好聊天记录和转账凭证。
            首批投入试运营的自动驾驶车辆共有{n2}辆，运营区域覆盖{district}的主要道路。
            乘客可以通过手机应用预约乘车，车内配有安全员，以便在紧急情况下接管车辆。
            数据显示，今年一季度全市软件和信息服务业营业收入同比增长{pct}%。
            不少年轻人表示，新技术给生活带来了很多便利，但个人信息安全问题也值得关注。
            据悉，该产品将于下月起在全国各大电商平台陆续开售。
            为吸引高端人才，产业园还配套建设了人才公寓、幼儿园和[商业街区|体育中心]。
            一位参加体验活动的市民说，自动驾驶汽车起步和刹车都很平稳，坐起来很舒服。
            专家指出，老年人是电信诈骗的高发人群，子女要[多提醒|经常提醒]家里的老人。
            发布会现场，工作人员演示了新机的拍照和翻译功能，引起了观众的浓厚兴趣。
            据介绍，该公司去年研发投入占营业收入的比重超过{m}%。
            产业园负责人表示，将为入驻企业提供算力支持、融资对接和人才招聘等一站式服务。
            一位市民告诉记者，自己前不久就接到了自称“快递客服”的电话，幸好及时识破了骗局。
            试运营期间，自动驾驶出租车暂不收费，市民可以免费体验。
            业内人士预计，未来几年智能网联汽车市场规模将保持快速增长。
            为保护用户隐私，该应用采用了多重加密技术，所有数据均存储在境内服务器。
            截至目前，{company}已在全国设立{n}个研发中心，员工总数超过{big}人。
        """),
    },
    "economy": {
        "headlines": _lines("""
            {city}一季度经济运行稳中向好
            春季招聘会举行 上百家企业提供上万个岗位
            {city}夜市经济持续升温
            {company}年营业收入再创新高
            {city}外贸进出口总额同比增长
        """),
        "sentences": _lines("""
            据{city}市统计局发布的数据，今年一季度全市地区生产总值同比增长{pct_small}%，增速[高于全国平均水平|在同类城市中位居前列]。
            其中，规模以上工业增加值增长较快，消费市场也呈现出明显的回暖态势。
            本次招聘会共吸引{hundreds}家企业参加，提供就业岗位{big}个，涵盖制造、电商、物流等多个行业。
            现场求职者络绎不绝，不少应届毕业生带着简历在各个展位前[咨询|了解招聘信息]。
            “我学的是机械专业，今天已经投了五份简历，有两家公司约我下周面试。”一位求职者告诉记者。
            夜幕降临，{district}的美食街上灯火通明，烧烤、小龙虾和各种特色小吃吸引了大量游客。
            一位摊主说，现在每天晚上的营业额比去年同期增加了{m}%左右。
            为了规范经营秩序，街道还专门安排了工作人员负责卫生保洁和交通疏导。
            {company}发布的年报显示，公司全年实现营业收入{money}，净利润同比增长{pct}%。
            公司表示，将继续加大研发投入，积极开拓海外市场。
            分析人士指出，随着一系列稳增长政策落地见效，未来经济有望继续保持平稳运行。
            与此同时，部分中小企业仍面临订单不足、融资难等问题，需要进一步加大扶持力度。
            今年以来，{city}共新增市场主体{big}户，其中个体工商户占比超过六成。
            海关数据显示，前两个月{city}外贸进出口总额达到{money}，其中出口增长尤为明显。
            电动汽车、锂电池和太阳能电池成为拉动出口增长的“新三样”。
            {person}在一家外贸企业工作了{m}年，他说今年的海外订单已经排到了下半年。
            从消费结构看，餐饮、文旅和新能源汽车等领域的消费增长尤为明显。
            招聘会现场还设置了政策咨询区，为求职者提供社保、落户等方面的咨询服务。
            部分企业开出的月薪超过一万元，对技术型人才的需求尤其旺盛。
            夜市的火爆也带动了周边商场、电影院和停车场的生意。
            有专家提醒，夜间经济要注意噪音扰民和食品安全等问题。
            年报还显示，公司海外业务收入占比已提升至{pct}%。
            一些中小企业负责人表示，今年的原材料价格有所回落，经营压力比去年小了一些。
            统计数据显示，全市居民人均可支配收入同比增长{pct_small}%。
        """),
    },
    "health": {
        "headlines": _lines("""
            {uni}研究团队在新材料领域取得重要进展
            春季流感高发 专家提醒做好防护
            {city}市民健康素养水平持续提升
            科学家发现一种新的植物物种
            {city}家庭医生签约服务覆盖面进一步扩大
        """),
        "sentences": _lines("""
            近日，{uni}的一个研究团队在国际学术期刊上发表论文，报告了一种新型储能材料。
            实验结果表明，这种材料的性能比传统材料高出{pct}%，而且[成本更低|制备工艺更简单]。
            论文通讯作者{person}教授表示，团队下一步将重点解决规模化生产的问题。
            进入春季以来，各大医院呼吸科门诊量明显增加，其中不少是流感患者。
            专家建议，老人、儿童和患有慢性病的人群应尽早接种疫苗，外出时[佩戴口罩|做好个人防护]。
            如果出现发热、咳嗽等症状，应及时就医，不要自行服用抗生素。
            保持充足睡眠、均衡饮食和适量运动，是提高免疫力最有效的方法。
            调查显示，{city}居民健康素养水平已达到{pct}%，比五年前提高了{n}个百分点。
            近年来，全市建成了{n2}个健康主题公园和{hundreds}公里健身步道。
            这一新物种是科研人员在野外考察时发现的，目前仅分布在海拔{alt}米左右的山谷中。
            研究人员表示，新物种的发现说明当地生态环境保护得较好，同时也提醒人们加强对珍稀植物的保护。
            该研究得到了国家自然科学基金的支持，相关成果已申请{n}项发明专利。
            目前，全市已组建家庭医生团队{hundreds}个，重点人群签约率超过{pct}%。
            签约居民可以享受健康咨询、慢病随访、预约转诊等服务，看病更加方便。
            医生提醒，儿童的免疫力相对较弱，家长要注意让孩子勤洗手、多通风。
            研究团队成员大多是三十多岁的年轻人，他们经常在实验室工作到深夜。
            研究团队介绍，这种材料有望应用于新能源汽车和大规模储能电站。
            数据显示，近一周全市流感样病例占门诊总数的比例为{pct_small}%。
            医生建议，室内要经常开窗通风，尽量少去人员密集的场所。
            在健康知识竞赛中，不少市民表现出色，答对率明显高于往年。
            科研人员在考察中共采集植物标本{hundreds}份，拍摄照片上万张。
            据介绍，这种植物花期较短，每年只在春末开花，因此此前一直没有被发现。
            家庭医生还会定期上门为行动不便的老人测量血压和血糖。
            专家提醒，体检报告中发现的问题要及时复查，不要因为没有症状就掉以轻心。
        """),
    },
    "culture": {
        "headlines": _lines("""
            五一假期{city}接待游客人次创新高
            {city}博物馆推出夜间开放活动
            非遗技艺走进校园 {city}学生体验传统文化
            {city}古镇焕新开街 吸引大批游客
        """),
        "sentences": _lines("""
            假期期间，{city}共接待游客{hundreds}万人次，实现旅游收入{money}。
            热门景区门前排起长队，不少游客选择错峰出行，到周边的小众景点[打卡|游玩]。
            博物馆从本月起每周五、周六延长开放时间至晚上九点，并推出专题讲解和互动体验。
            一位带着孩子前来参观的家长说：“晚上人少，孩子能安安静静地看展品，收获很大。”
            在活动现场，老艺人手把手地教学生剪纸、捏面人，孩子们学得[津津有味|十分认真]。
            学校负责人表示，今后将把非遗课程纳入日常教学，让传统文化在校园里生根发芽。
            景区还推出了多条精品旅游线路，把古镇、乡村和自然风光串联起来。
            当地餐馆的特色菜供不应求，一些热门餐厅需要提前[几天|两三天]预订。
            文旅部门提醒，游客出行前要关注天气变化，合理安排行程，注意人身和财产安全。
            古镇改造坚持“修旧如旧”的原则，保留了青石板路、老街巷和传统民居的原有风貌。
            夜晚的古镇灯笼高挂，河边的茶馆里传出悠扬的评弹声。
            来自外地的游客{person2}说，这是第一次来{city}，没想到这里的文化氛围这么浓厚。
            这次展览共展出文物{hundreds}余件，其中不少是首次与观众见面。
            为了让更多人了解非遗，{city}还计划举办传统手工艺展示周。
            许多年轻人穿上汉服，在古色古香的街巷里拍照留念。
            博物馆相关负责人介绍，夜间开放首月共接待观众{big}人次。
            这些非遗项目大多有上百年的历史，其中一些已经列入省级非物质文化遗产名录。
            为缓解交通压力，景区周边增设了临时停车场，并开通了免费接驳车。
            不少外地游客专门前来品尝当地的特色小吃，有的摊位前排起了长队。
            据了解，今年{city}将推出{n}条文化旅游精品线路，进一步丰富游客的选择。
            展览还运用了数字技术，观众扫描二维码就能听到文物背后的故事。
            一位老艺人感慨地说：“看到这么多孩子喜欢传统手艺，我心里特别高兴。”
        """),
    },
}

ZH_GENERAL = _lines("""
    据了解，相关工作将于{month}月底前全面完成。
    对此，不少市民表示支持，认为这是一件[惠民的好事|实实在在的好事]。
    记者在现场看到，[工作人员|施工人员和志愿者]正在有条不紊地开展各项工作。
    [有关负责人|相关部门负责人]表示，下一步将认真听取[群众|各方]意见，不断完善相关措施。
    [业内专家|有专家]认为，这一做法值得在更大范围内[推广|推广应用]。
    截至目前，相关项目已累计投入资金{money}。
    值得注意的是，类似的情况在[其他城市|周边地区|不少地方]也曾出现过。
    接下来，有关部门还将[加强监督检查|开展专项督查]，确保各项措施落到实处。
    对于未来的发展，{person2}充满信心：“只要方向对了，就不怕路远。”
    目前，相关情况仍在进一步[调查|核实]之中，本报将持续关注。
    与去年同期相比，这一数字增长了{pct}%。
    许多受访者表示，希望这样的好政策能够[一直坚持下去|长期坚持]。
    有市民建议，相关部门应加强宣传，让更多人了解这项政策。
    从{year}年开始，这项工作已经连续开展了好几年，取得了明显成效。
    下一阶段，还将根据[实际情况|群众反馈]对方案进行调整和优化。
    不少网友也在社交媒体上留言点赞，相关话题的阅读量已超过{hundreds}万次。
    记者注意到，这一变化在[社交媒体上|网上]引发了广泛讨论。
    据相关负责人介绍，目前各项准备工作[已基本就绪|正在有序推进]。
    也有一些市民表示，希望相关部门在推进工作的同时，更多地考虑普通人的实际需求。
    按照计划，相关方案将在广泛征求意见后正式实施。
    多位专家在接受采访时表示，这一趋势在未来一段时间内仍将持续。
    为此，有关部门专门成立了工作专班，[定期|每周]研究解决遇到的问题。
    事实上，早在几年前，当地就已经开始了相关的探索。
    下一步如何推进，仍有待进一步观察。
""")

ZH_BOILERPLATE = [
    "免责声明：本文仅代表作者本人观点，与本网站无关。文中陈述和观点判断保持中立，不对所包含内容的准确性、可靠性或完整性提供任何明示或暗示的保证。",
    "欢迎关注我们的微信公众号，第一时间获取本地新闻、民生服务和便民信息。如有新闻线索，请拨打本报热线或发送邮件至编辑部。",
]

# ---------------------------------------------------------------------------------------------
# Minor languages: German, French, Spanish, Japanese, Russian (no topics, one pool each)
# ---------------------------------------------------------------------------------------------

DE = {
    "cities": ["Freiburg", "Kassel", "Bamberg", "Lüneburg", "Göttingen", "Konstanz", "Würzburg", "Passau"],
    "first": ["Anna", "Thomas", "Julia", "Jürgen", "Katrin", "Stefan", "Sabine", "Markus", "Lena", "Tobias"],
    "last": ["Müller", "Becker", "Schäfer", "Weiß", "Hoffmann", "Krüger", "Wagner", "Schröder", "Neumann"],
    "weekdays": ["Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"],
    "months": ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober",
               "November", "Dezember"],
    "headlines": _lines("""
        Neue Radwege für {city}: Stadtrat beschließt Verkehrskonzept
        Museum in {city} öffnet nach der Renovierung wieder
        Wochenmarkt in {city} feiert sein Jubiläum
        Hochwasserschutz: {city} investiert in neue Deiche
        Mehr Betreuungsplätze für Familien in {city}
        Regionalbahn fährt künftig im Halbstundentakt
    """),
    "sentences": _lines("""
        Der Stadtrat von {city} hat am {weekday} mit großer Mehrheit ein neues Verkehrskonzept beschlossen.
        Geplant sind unter anderem {m} Kilometer neue Radwege, breitere Gehwege und mehr Grünflächen in der Innenstadt.
        Die Kosten für das gesamte Vorhaben werden auf rund {n} Millionen Euro geschätzt.
        {person} aus der Stadtverwaltung sprach von einem wichtigen Schritt für die Lebensqualität in der Stadt.
        Kritik kam vor allem von Geschäftsleuten, die den Wegfall von Parkplätzen befürchten.
        Nach Angaben der Verwaltung sollen die ersten Bauarbeiten bereits im Frühjahr beginnen.
        Das Museum war fast zwei Jahre lang geschlossen, weil das Dach und die Heizung erneuert werden mussten.
        Zur Wiedereröffnung kamen am ersten Wochenende mehr als {big} Besucherinnen und Besucher.
        Besonders beliebt ist die neue Abteilung zur Geschichte der Region, in der auch viele Fotos aus Privatbesitz zu sehen sind.
        Der Eintritt ist für Kinder und Jugendliche unter achtzehn Jahren weiterhin frei.
        Seit über {n2} Jahren bieten Bauern aus der Umgebung jeden Samstag auf dem Marktplatz ihre Waren an.
        Neben Obst und Gemüse gibt es dort Käse, Brot, Honig und frische Blumen.
        Viele Kundinnen und Kunden schätzen vor allem die persönliche Beratung und die kurzen Transportwege.
        Nach dem Hochwasser im Jahr {year} war klar, dass die alten Deiche nicht mehr ausreichen.
        Das Land beteiligt sich mit etwa {pct} Prozent an den Kosten für den Hochwasserschutz.
        In den kommenden Monaten sollen zusätzlich {n2} neue Betreuungsplätze für Kinder unter drei Jahren entstehen.
        Viele Eltern warten derzeit mehrere Monate auf einen Platz in einer Kindertagesstätte.
        Ab dem Fahrplanwechsel im Dezember fahren die Züge zwischen {city} und der Landeshauptstadt alle dreißig Minuten.
        Die Fahrgastverbände begrüßen die Entscheidung, fordern aber auch modernere und pünktlichere Züge.
        Eine Sprecherin der Stadt sagte, man wolle die Bürgerinnen und Bürger frühzeitig an den Planungen beteiligen.
        Am {weekday}abend findet dazu eine öffentliche Informationsveranstaltung im Rathaus statt.
        Wer nicht persönlich teilnehmen kann, kann seine Fragen auch über die Internetseite der Stadt einreichen.
        Ob der Zeitplan eingehalten werden kann, hängt nach Angaben der Planer auch vom Wetter ab.
        Die Ergebnisse einer ersten Umfrage sollen im {month} vorgestellt werden.
        Laut einer aktuellen Studie nutzen inzwischen rund {pct} Prozent der Einwohner regelmäßig das Fahrrad.
        Für die Umsetzung des Projekts wurden {n} neue Stellen in der Verwaltung geschaffen.
        Die Arbeiten an der Brücke über den Fluss sollen im Herbst abgeschlossen werden.
        Nach Angaben der Polizei verlief das Fest ohne größere Zwischenfälle.
        Im vergangenen Jahr besuchten mehr als {big} Menschen die Veranstaltungen in der Altstadt.
        Der Verein sucht noch ehrenamtliche Helferinnen und Helfer für den Sommer.
        Viele Anwohner wünschen sich vor allem mehr Sicherheit auf dem Schulweg.
        Die Stadtwerke wollen bis zum Jahr 2030 den gesamten Strom aus erneuerbaren Quellen beziehen.
        In der Bibliothek können Kinder in den Ferien an kostenlosen Lesekursen teilnehmen.
        Die Mieten sind in den letzten fünf Jahren um rund {pct} Prozent gestiegen.
    """),
}

FR = {
    "cities": ["Lyon", "Nantes", "Grenoble", "Rennes", "Avignon", "Besançon", "Angers", "Dijon"],
    "first": ["Claire", "Julien", "Élodie", "Mathieu", "Camille", "Nicolas", "Sophie", "Antoine", "Léa", "Hugo"],
    "last": ["Dubois", "Moreau", "Lefèvre", "Girard", "Bonnet", "Mercier", "Fontaine", "Rousseau", "Chevalier"],
    "weekdays": ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"],
    "months": ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
               "novembre", "décembre"],
    "headlines": _lines("""
        {city} : le conseil municipal adopte un nouveau plan de mobilité
        Le musée des beaux-arts de {city} rouvre ses portes
        À {city}, le marché du samedi fête ses trente ans
        Les prix de l'immobilier continuent de grimper à {city}
        Un nouveau festival de musique verra le jour cet été à {city}
        Rentrée scolaire : {city} ouvre deux nouvelles écoles
    """),
    "sentences": _lines("""
        Le conseil municipal de {city} a adopté {weekday} soir un nouveau plan de mobilité pour les dix prochaines années.
        Le projet prévoit notamment la création de {m} kilomètres de pistes cyclables et l'extension du réseau de tramway.
        Selon la mairie, le coût total des travaux est estimé à environ {n} millions d'euros.
        Plusieurs associations de riverains ont toutefois exprimé leurs inquiétudes concernant le stationnement.
        « Nous voulons une ville plus agréable pour les piétons et les familles », a expliqué {person}, qui suit le dossier à la mairie.
        Les premiers travaux devraient commencer au printemps prochain.
        Après deux ans de travaux, le musée accueille à nouveau le public dans des salles entièrement rénovées.
        Plus de {big} visiteurs se sont déjà rendus au musée depuis sa réouverture.
        La nouvelle aile présente des tableaux de peintres régionaux du dix-neuvième siècle.
        L'entrée reste gratuite pour les moins de vingt-six ans ainsi que le premier dimanche de chaque mois.
        Chaque samedi matin, une soixantaine de producteurs locaux s'installent sur la place principale.
        On y trouve des fruits, des légumes, du fromage, du pain et des fleurs de saison.
        Pour de nombreux habitants, le marché est aussi un lieu de rencontre et de convivialité.
        Le prix moyen du mètre carré a augmenté de {pct} % en un an, selon les notaires de la région.
        Les jeunes ménages sont de plus en plus nombreux à s'installer dans les communes voisines, où les loyers sont moins élevés.
        Le festival proposera {n2} concerts gratuits dans les parcs et sur les places de la ville.
        Les organisateurs espèrent attirer plusieurs milliers de spectateurs dès la première édition.
        Les deux nouvelles écoles pourront accueillir au total près de {staff} élèves.
        La municipalité a également recruté des animateurs supplémentaires pour la cantine et les activités périscolaires.
        Une réunion publique d'information aura lieu {weekday} prochain à l'hôtel de ville.
        Les habitants peuvent également donner leur avis en ligne jusqu'à la fin du mois de {month}.
        Pour l'opposition, ce projet arrive trop tard et manque d'ambition.
        La région participera au financement à hauteur de {pct} %.
        Le bilan de cette première étape sera présenté aux élus à la fin de l'année.
        Depuis {year}, la population de la ville a augmenté de près de {n} %.
        Les travaux de rénovation du pont devraient s'achever à l'automne.
        Selon la préfecture, la fête s'est déroulée sans incident majeur.
        L'an dernier, plus de {big} personnes ont assisté aux animations dans le centre historique.
        L'association cherche encore des bénévoles pour l'été.
        De nombreux parents demandent davantage de sécurité aux abords des écoles.
        La ville souhaite réduire de moitié sa consommation d'énergie d'ici à 2030.
        Pendant les vacances, la médiathèque propose des ateliers de lecture gratuits pour les enfants.
        Les commerçants du centre-ville espèrent que ces aménagements attireront une nouvelle clientèle.
    """),
}

ES = {
    "cities": ["Valencia", "Salamanca", "Zaragoza", "Córdoba", "Bilbao", "Granada", "Alicante", "Oviedo"],
    "first": ["Lucía", "Javier", "Carmen", "Alejandro", "Marta", "Pablo", "Elena", "Diego", "Sara", "Andrés"],
    "last": ["Fernández", "Morales", "García", "Ruiz", "Navarro", "Jiménez", "Romero", "Torres", "Castro"],
    "weekdays": ["lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"],
    "months": ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
               "noviembre", "diciembre"],
    "headlines": _lines("""
        {city} aprueba un plan para ampliar las zonas verdes
        El museo de historia de {city} reabre tras su reforma
        Los precios del alquiler siguen subiendo en {city}
        Miles de personas participan en la carrera popular de {city}
        Una nueva línea de autobús conectará el centro con el hospital
        La feria del libro vuelve a {city} con más de cien actividades
    """),
    "sentences": _lines("""
        El Ayuntamiento de {city} aprobó el {weekday} un plan para ampliar las zonas verdes de la ciudad.
        El proyecto incluye la plantación de {big} árboles y la creación de {n} parques nuevos en los barrios del norte.
        Según el concejal de Medio Ambiente, la inversión total superará los {n} millones de euros.
        Los vecinos llevaban años reclamando más espacios de sombra y lugares para que jueguen los niños.
        Las obras comenzarán a principios del próximo año y durarán aproximadamente dieciocho meses.
        El museo ha permanecido cerrado durante casi dos años para renovar sus instalaciones.
        La nueva exposición permanente recorre la historia de la región desde la época romana hasta nuestros días.
        Durante el primer fin de semana, más de {big} personas visitaron el museo.
        El precio medio del alquiler ha subido un {pct} % en el último año, según un informe publicado esta semana.
        Muchos jóvenes aseguran que destinan más de la mitad de su sueldo a pagar la vivienda.
        «Es muy difícil ahorrar cuando casi todo el dinero se va en el alquiler», explicó {person}, que vive en el barrio desde hace {m} años.
        La carrera popular reunió el domingo a más de {big} corredores de todas las edades.
        El recorrido, de diez kilómetros, pasó por algunas de las calles más emblemáticas del casco antiguo.
        Los organizadores destacaron el buen ambiente y la participación de numerosas familias.
        La nueva línea de autobús tendrá una frecuencia de quince minutos en las horas punta.
        Hasta ahora, los pacientes que vivían en el centro tenían que hacer al menos un transbordo para llegar al hospital.
        La feria del libro contará con {n2} casetas y la presencia de numerosos autores nacionales e internacionales.
        Habrá también talleres de lectura para niños, presentaciones y firmas de libros durante todo el fin de semana.
        La alcaldesa afirmó que se trata de una de las apuestas más importantes del mandato.
        Los grupos de la oposición criticaron que el plan no se haya debatido antes con las asociaciones de vecinos.
        Los interesados pueden consultar toda la información en la página web del Ayuntamiento.
        Está previsto que el proyecto se presente oficialmente a finales de {month}.
        En {year}, la ciudad ya había puesto en marcha una iniciativa similar con buenos resultados.
        Los comerciantes de la zona esperan que la medida atraiga a más visitantes durante los fines de semana.
        Una encuesta reciente indica que el {pct} % de los vecinos está a favor de la propuesta.
        Las obras de reforma del puente deberían terminar en otoño.
        Según la Policía Local, la fiesta transcurrió sin incidentes importantes.
        El año pasado, más de {big} personas asistieron a las actividades del casco histórico.
        La asociación busca todavía voluntarios para el verano.
        Muchos padres piden más seguridad en los alrededores de los colegios.
        La ciudad quiere reducir a la mitad su consumo de energía antes de 2030.
        Durante las vacaciones, la biblioteca ofrece talleres de lectura gratuitos para niños.
        El ayuntamiento ha habilitado un teléfono de atención para resolver las dudas de los vecinos.
    """),
}

JA = {
    "cities": ["札幌", "仙台", "金沢", "名古屋", "広島", "福岡", "松本", "長崎"],
    "first": ["美咲", "健一", "大輔", "陽子", "翔太", "由美", "拓也", "さくら"],
    "last": ["佐藤", "田中", "鈴木", "高橋", "伊藤", "渡辺", "山本", "中村"],
    "weekdays": ["月曜日", "火曜日", "水曜日", "木曜日", "金曜日", "土曜日", "日曜日"],
    "headlines": _lines("""
        {city}市、新しい図書館を来春開館へ
        {city}で桜まつり開幕　多くの花見客でにぎわう
        地元産の野菜を使った給食が好評
        {city}駅前の再開発計画がまとまる
        高齢者向けの見守りサービスを拡充
        夏の観光シーズンを前に、宿泊施設の予約が好調
    """),
    "sentences": _lines("""
        {city}市は{weekday}、市の中心部に新しい図書館を建設する計画を発表した。
        新しい図書館には約{n2}万冊の本が置かれ、子ども向けの読書スペースや自習室も設けられる予定だ。
        市の担当者によると、総事業費はおよそ{n2}億円になる見込みだという。
        市民からは「週末に家族で気軽に行ける場所が増えるのはうれしい」という声が聞かれた。
        今年の桜まつりは{weekday}に始まり、初日から大勢の花見客でにぎわった。
        会場には地元の飲食店など{n2}店舗以上の屋台が並び、夜には桜のライトアップも行われる。
        主催者は、期間中に{big}人以上の来場を見込んでいる。
        市内の小学校では、地元の農家が育てた野菜を使った給食が提供されている。
        子どもたちは、野菜を育てた農家の人たちの話を聞きながら、おいしそうに給食を食べていた。
        栄養士の{person}さんは「食べ物がどこから来るのかを知ることは、とても大切です」と話した。
        駅前の再開発計画では、商業施設やマンション、広場などを一体的に整備する。
        工事は来年度に始まり、完成までには約{n}年かかる見通しだ。
        一方で、古くからある商店街への影響を心配する声も上がっている。
        市は、一人暮らしの高齢者を対象にした見守りサービスを拡充すると発表した。
        電気やガスの使用状況から異変を察知し、家族や担当者に知らせる仕組みだ。
        現在、市内では{big}人を超える高齢者が一人で暮らしているという。
        夏の観光シーズンを前に、市内のホテルや旅館では予約が順調に入っている。
        特に海外からの観光客が増えており、去年の同じ時期と比べて{pct}%ほど多いという。
        観光協会の担当者は「多くの人に地域の魅力を知ってもらいたい」と期待を寄せた。
        市は今後、市民の意見を聞きながら計画の詳しい内容を決めていく方針だ。
        説明会は{month}月に市役所で開かれる予定で、誰でも参加することができる。
        専門家は「人口が減る中で、町の中心部をどう活性化するかが課題だ」と指摘している。
        天気が良ければ、週末はさらに多くの人が訪れると予想されている。
        詳しい情報は、市のホームページで確認することができる。
        昨年度の利用者数は前の年を大きく上回り、過去最高となった。
        橋の改修工事は、秋ごろまでに終わる予定だ。
        警察によると、祭りは大きな混乱もなく無事に終了した。
        昨年は{big}人以上が旧市街のイベントを訪れた。
        実行委員会では、夏のイベントを手伝うボランティアを募集している。
        通学路の安全対策を求める声は、保護者の間で以前から強かった。
        市は2030年までに、公共施設で使う電力をすべて再生可能エネルギーでまかなう目標を掲げている。
        夏休み期間中、図書館では子ども向けの無料の読書教室が開かれる。
        地元の商店主たちは、新しい施設が町に人を呼び戻すきっかけになればと期待している。
    """),
}

# Russian needs case forms of the city name: nominative, prepositional (after "в"), genitive.
RU = {
    "cities": [
        {"city": "Казань", "city_prep": "Казани", "city_gen": "Казани"},
        {"city": "Самара", "city_prep": "Самаре", "city_gen": "Самары"},
        {"city": "Ярославль", "city_prep": "Ярославле", "city_gen": "Ярославля"},
        {"city": "Томск", "city_prep": "Томске", "city_gen": "Томска"},
        {"city": "Екатеринбург", "city_prep": "Екатеринбурге", "city_gen": "Екатеринбурга"},
        {"city": "Новосибирск", "city_prep": "Новосибирске", "city_gen": "Новосибирска"},
    ],
    # male names only: the verb forms in the templates are masculine
    "first": ["Игорь", "Андрей", "Сергей", "Дмитрий", "Алексей", "Михаил", "Николай", "Павел"],
    "last": ["Козлов", "Смирнов", "Волков", "Соколов", "Морозов", "Лебедев", "Орлов", "Кузнецов"],
    "headlines": _lines("""
        В {city_prep} откроется новая детская библиотека
        Власти {city_gen} утвердили план ремонта дорог
        В {city_prep} прошёл традиционный весенний полумарафон
        Жители {city_gen} выбрали проекты благоустройства парков
        Новый автобусный маршрут свяжет центр города с аэропортом
        В музее {city_gen} открылась выставка старинных фотографий
    """),
    "sentences": _lines("""
        Городская администрация {city_gen} утвердила план ремонта дорог на ближайшие три года.
        В этом году планируется отремонтировать более {n2} улиц, в том числе несколько главных магистралей.
        По словам представителей мэрии, на эти цели из бюджета будет выделено около {n} миллиардов рублей.
        Работы начнутся весной и продлятся до конца осени.
        Новая библиотека разместится в здании бывшего кинотеатра в центре города.
        Для юных читателей оборудуют просторный читальный зал, игровую комнату и помещения для кружков.
        Фонд библиотеки составит более {big} книг, журналов и аудиокниг.
        В полумарафоне приняли участие более {big} бегунов из разных регионов страны.
        Маршрут забега прошёл по набережной и историческим улицам города.
        Победитель преодолел дистанцию чуть больше чем за час и десять минут.
        В голосовании за проекты благоустройства приняли участие почти {pct}% жителей города.
        Больше всего голосов получило предложение обустроить новую детскую площадку и велосипедные дорожки в парке.
        Автобусы по новому маршруту будут ходить каждые двадцать минут с раннего утра до позднего вечера.
        Раньше пассажирам приходилось делать пересадку, чтобы добраться до аэропорта.
        На выставке представлены старинные фотографии, на которых можно увидеть, как выглядел город сто лет назад.
        Многие снимки передали в музей сами горожане из своих семейных архивов.
        «Мы хотим, чтобы город становился удобнее для жизни», — сказал {person}, который отвечает за этот проект.
        Жители в целом положительно оценили эти изменения, хотя некоторые считают, что работы идут слишком медленно.
        Подробная информация размещена на официальном сайте администрации города.
        Первые результаты планируется подвести уже в конце года.
        По данным городской статистики, за последние пять лет население {city_gen} выросло на {n}%.
        Эксперты отмечают, что подобные проекты уже успешно реализованы в других городах.
        Вход на выставку для школьников и студентов будет бесплатным.
        Организаторы надеются, что мероприятие станет ежегодным.
        Ещё в {year} году в городе начали обсуждать необходимость таких изменений.
        Ремонт моста через реку планируется завершить к осени.
        По данным полиции, праздник прошёл без серьёзных происшествий.
        В прошлом году мероприятия в историческом центре посетили более {big} человек.
        Организаторы всё ещё ищут волонтёров для летних мероприятий.
        Многие родители просят сделать дорогу к школе более безопасной.
        Городские власти планируют к 2030 году вдвое сократить потребление энергии в муниципальных зданиях.
        Во время каникул в библиотеке будут проходить бесплатные занятия по чтению для детей.
        Местные предприниматели надеются, что обновлённый центр привлечёт больше покупателей.
    """),
}

# ---------------------------------------------------------------------------------------------
# Near-duplicate edits: word replacements a copy editor or a syndication partner might make
# ---------------------------------------------------------------------------------------------

EN_SYNONYMS = [
    ("said", "stated"), ("residents", "locals"), ("about", "around"), ("meeting", "session"),
    ("expected", "likely"), ("also", "additionally"), ("many", "numerous"), ("new", "fresh"),
    ("people", "individuals"), ("city", "town"), ("started", "began"), ("help", "assist"),
]
ZH_SYNONYMS = [
    ("表示", "称"), ("目前", "当前"), ("市民", "居民"), ("近日", "日前"), ("已经", "已"), ("不少", "许多"),
    ("非常", "十分"), ("主要", "重点"),
]
EN_REPUBLISHED = "This story was first published by {source} and is republished here with permission."
ZH_REPUBLISHED = "（本文转载自{source}，如有侵权请联系删除。）"

# ---------------------------------------------------------------------------------------------
# Site chrome per language (navigation, sidebar, cookie banner, footer)
# ---------------------------------------------------------------------------------------------

UI = {
    "en": {
        "nav": [("/", "Home"), ("/news/", "News"), ("/local/", "Local"), ("/sports/", "Sports"),
                ("/business/", "Business"), ("/technology/", "Technology"), ("/opinion/", "Opinion"),
                ("/login", "Login"), ("/subscribe", "Subscribe")],
        "most_read": "Most read", "ad": "Advertisement", "by": "By", "share": "Share this article",
        "cookie": "We use cookies to improve your experience on our site. By continuing to browse, you agree to "
                  "our use of cookies.",
        "accept": "Accept", "rights": "All rights reserved.", "privacy": "Privacy Policy",
        "terms": "Terms of Use", "cookies": "Cookie Settings", "contact": "Contact us",
        "search": "Search", "tags": "Topics",
    },
    "zh": {
        "nav": [("/", "首页"), ("/news/", "新闻"), ("/local/", "本地"), ("/sports/", "体育"),
                ("/finance/", "财经"), ("/tech/", "科技"), ("/opinion/", "评论"), ("/login", "登录"),
                ("/register", "注册")],
        "most_read": "热门文章", "ad": "广告", "by": "作者：", "share": "分享到",
        "cookie": "本网站使用Cookie以提升您的浏览体验。继续浏览即表示您同意我们使用Cookie。",
        "accept": "同意", "rights": "版权所有，未经授权禁止转载。", "privacy": "隐私政策", "terms": "使用条款",
        "cookies": "Cookie设置", "contact": "联系我们", "search": "搜索", "tags": "相关专题",
    },
    "de": {
        "nav": [("/", "Startseite"), ("/nachrichten/", "Nachrichten"), ("/region/", "Region"),
                ("/sport/", "Sport"), ("/wirtschaft/", "Wirtschaft"), ("/kultur/", "Kultur"),
                ("/anmelden", "Anmelden"), ("/abo", "Abo")],
        "most_read": "Meistgelesen", "ad": "Anzeige", "by": "Von", "share": "Artikel teilen",
        "cookie": "Wir verwenden Cookies, um Ihnen ein besseres Nutzungserlebnis zu bieten. Mit der weiteren "
                  "Nutzung stimmen Sie der Verwendung von Cookies zu.",
        "accept": "Zustimmen", "rights": "Alle Rechte vorbehalten.", "privacy": "Datenschutz",
        "terms": "Impressum", "cookies": "Cookie-Einstellungen", "contact": "Kontakt", "search": "Suche",
        "tags": "Themen",
    },
    "fr": {
        "nav": [("/", "Accueil"), ("/actualites/", "Actualités"), ("/region/", "Région"), ("/sport/", "Sport"),
                ("/economie/", "Économie"), ("/culture/", "Culture"), ("/connexion", "Se connecter"),
                ("/abonnement", "S'abonner")],
        "most_read": "Les plus lus", "ad": "Publicité", "by": "Par", "share": "Partager cet article",
        "cookie": "Ce site utilise des cookies pour améliorer votre expérience. En poursuivant votre navigation, "
                  "vous acceptez leur utilisation.",
        "accept": "Accepter", "rights": "Tous droits réservés.", "privacy": "Politique de confidentialité",
        "terms": "Mentions légales", "cookies": "Gestion des cookies", "contact": "Contact",
        "search": "Rechercher", "tags": "Thèmes",
    },
    "es": {
        "nav": [("/", "Inicio"), ("/noticias/", "Noticias"), ("/local/", "Local"), ("/deportes/", "Deportes"),
                ("/economia/", "Economía"), ("/cultura/", "Cultura"), ("/acceder", "Acceder"),
                ("/suscribete", "Suscríbete")],
        "most_read": "Lo más leído", "ad": "Publicidad", "by": "Por", "share": "Compartir",
        "cookie": "Utilizamos cookies para mejorar su experiencia. Si continúa navegando, consideramos que "
                  "acepta su uso.",
        "accept": "Aceptar", "rights": "Todos los derechos reservados.", "privacy": "Política de privacidad",
        "terms": "Aviso legal", "cookies": "Configuración de cookies", "contact": "Contacto",
        "search": "Buscar", "tags": "Temas",
    },
    "ja": {
        "nav": [("/", "トップ"), ("/news/", "ニュース"), ("/local/", "地域"), ("/sports/", "スポーツ"),
                ("/economy/", "経済"), ("/culture/", "文化"), ("/login", "ログイン"), ("/register", "会員登録")],
        "most_read": "よく読まれている記事", "ad": "広告", "by": "記者：", "share": "この記事をシェア",
        "cookie": "当サイトでは、利便性向上のためにクッキーを使用しています。サイトの閲覧を続けることで、"
                  "クッキーの使用に同意したものとみなします。",
        "accept": "同意する", "rights": "無断転載を禁じます。", "privacy": "プライバシーポリシー",
        "terms": "利用規約", "cookies": "クッキー設定", "contact": "お問い合わせ", "search": "検索",
        "tags": "関連ワード",
    },
    "ru": {
        "nav": [("/", "Главная"), ("/news/", "Новости"), ("/city/", "Город"), ("/sport/", "Спорт"),
                ("/economy/", "Экономика"), ("/culture/", "Культура"), ("/login", "Войти"),
                ("/subscribe", "Подписка")],
        "most_read": "Самое читаемое", "ad": "Реклама", "by": "Автор:", "share": "Поделиться",
        "cookie": "Мы используем файлы cookie, чтобы сделать сайт удобнее. Продолжая пользоваться сайтом, вы "
                  "соглашаетесь с их использованием.",
        "accept": "Принять", "rights": "Все права защищены.", "privacy": "Политика конфиденциальности",
        "terms": "Пользовательское соглашение", "cookies": "Настройки cookie", "contact": "Контакты",
        "search": "Поиск", "tags": "Темы",
    },
}

# Sites: host, display name, language.  The English and Chinese sites carry most of the articles.
SITES = [
    ("www.millbrook-courier.com", "The Millbrook Courier", "en"),
    ("www.harborview-gazette.com", "Harborview Gazette", "en"),
    ("news.cedarridge-times.com", "Cedar Ridge Times", "en"),
    ("www.lakemont-herald.org", "Lakemont Herald", "en"),
    ("www.northvale-chronicle.com", "Northvale Chronicle", "en"),
    ("www.riverton-daily.net", "Riverton Daily", "en"),
    ("www.kingsbridge-post.co.uk", "The Kingsbridge Post", "en"),
    ("www.techbeat-weekly.com", "TechBeat Weekly", "en"),
    ("www.jiangnan-zaobao.cn", "江南早报", "zh"),
    ("news.xinzhi-wang.com.cn", "新知网", "zh"),
    ("www.chengshi-kuaixun.com", "城市快讯", "zh"),
    ("www.minsheng-ribao.cn", "民生日报", "zh"),
    ("tech.qianfan-news.cn", "千帆新闻", "zh"),
    ("www.rheintal-bote.de", "Rheintal-Bote", "de"),
    ("www.le-petit-rhodanien.fr", "Le Petit Rhodanien", "fr"),
    ("www.diario-del-valle.es", "Diario del Valle", "es"),
    ("www.minato-shimbun.jp", "みなと新聞", "ja"),
    ("www.volzhskie-vesti.ru", "Волжские вести", "ru"),
]

# ---------------------------------------------------------------------------------------------
# Spam / low-quality material (these pages are meant to be dropped by quality filters)
# ---------------------------------------------------------------------------------------------

SPAM_KEYWORDS_EN = [
    "cheap flights", "cheap hotels", "best price", "discount travel", "last minute deals", "cheap flights",
    "book now", "lowest price guaranteed", "cheap car rental", "free cancellation",
]
SPAM_KEYWORDS_ZH = ["免费下载", "高清电影", "在线观看", "最新电影", "免费下载", "无广告", "高清资源", "电影网站"]
SPAM_REPEATED_LINE = "Buy now and save 50% on all items! Limited time offer, click here!"
SPAM_LINK_WORDS = ["casino bonus", "free spins", "online slots", "poker rooms", "jackpot", "betting tips",
                   "sports odds", "roulette", "blackjack", "lottery results"]
LOREM = _lines("""
    Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua.
    Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat.
    Duis aute irure dolor in reprehenderit in voluptate velit esse cillum dolore eu fugiat nulla pariatur.
    Excepteur sint occaecat cupidatat non proident, sunt in culpa qui officia deserunt mollit anim id est laborum.
    Curabitur pretium tincidunt lacus, nulla gravida orci a odio, nullam varius turpis et commodo pharetra.
    Integer in mauris eu nibh euismod gravida, duis ac tellus et risus vulputate vehicula.
""")
